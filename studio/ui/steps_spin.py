"""The steps box: any count, or, for a model that runs only some counts, just those."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QSpinBox, QWidget

from studio.core.params import MAX_STEPS
from studio.core.shortcut import steps_sentence

ANY_STEPS_TIP = "Denoising steps (for AMED: model evaluations)"


class StepsSpin(QSpinBox):
    """A QSpinBox whose arrows, wheel and typing keep to the allowed step counts when set."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.allowed: tuple[int, ...] = ()
        self.setRange(1, MAX_STEPS)
        self.setToolTip(ANY_STEPS_TIP)

    def set_allowed(self, counts: Sequence[int]) -> None:
        """Keep to `counts` (empty: any count); the tooltip says which."""
        self.allowed = tuple(sorted(counts))
        self.setToolTip(
            steps_sentence("This model", self.allowed) if self.allowed else ANY_STEPS_TIP
        )
        if self.allowed and self.value() not in self.allowed:
            self.setValue(self.nearest(self.value()))

    def nearest(self, value: int) -> int:
        return min(self.allowed, key=lambda n: (abs(n - value), n)) if self.allowed else value

    def stepBy(self, steps: int) -> None:
        if not self.allowed:
            super().stepBy(steps)
            return
        current = self.nearest(self.value())
        index = self.allowed.index(current) + steps
        self.setValue(self.allowed[max(0, min(index, len(self.allowed) - 1))])

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        if not self.allowed:
            return super().validate(text, pos)
        digits = text.strip()
        if digits.isdigit() and int(digits) in self.allowed:
            return QValidator.State.Acceptable, text, pos
        if digits == "" or any(str(n).startswith(digits) for n in self.allowed):
            return QValidator.State.Intermediate, text, pos
        return QValidator.State.Invalid, text, pos

    def fixup(self, text: str) -> str:
        digits = text.strip()
        if self.allowed and digits.isdigit():
            return str(self.nearest(int(digits)))
        return text
