"""The model picker: a combo box that offers the teacher/student pairs
(`studio.viewmodels.model_pairs` makes them)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QComboBox, QWidget

from studio.viewmodels.model_pairs import ModelPair


class ModelPairCombo(QComboBox):
    """Offers the model pairs; `pairChosen` fires only when the user picks one. `pair_for`
    makes the pair of two model names shown that is not offered yet."""

    pairChosen = Signal(object)

    def __init__(
        self,
        pairs: list[ModelPair],
        pair_for: Callable[[str, str | None], ModelPair],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._pair_for = pair_for
        self.setObjectName("modelCombo")
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(12)
        self.setToolTip("Teacher → student: the two models compared (or one model alone)")
        self._pairs: list[ModelPair] = []
        for pair in pairs:
            self.add_pair(pair)
        self.activated.connect(self._chosen)

    def pairs(self) -> list[ModelPair]:
        return list(self._pairs)

    def add_pair(self, pair: ModelPair) -> int:
        """Add `pair` unless one with the same models is there; its row."""
        row = self.row_of(pair.teacher, pair.student)
        if row is not None:
            return row
        self._pairs.append(pair)
        self.addItem(pair.label)
        self.setItemData(self.count() - 1, pair.label, Qt.ItemDataRole.ToolTipRole)
        return self.count() - 1

    def row_of(self, teacher: str, student: str | None) -> int | None:
        return next((i for i, p in enumerate(self._pairs) if p.key == (teacher, student)), None)

    def current_pair(self) -> ModelPair | None:
        row = self.currentIndex()
        return self._pairs[row] if 0 <= row < len(self._pairs) else None

    def show_models(self, teacher: str, student: str | None) -> ModelPair:
        """Select (adding it if needed) the pair of these models, without `pairChosen`."""
        row = self.row_of(teacher, student)
        if row is None:
            row = self.add_pair(self._pair_for(teacher, student))
        with QSignalBlocker(self):
            self.setCurrentIndex(row)
        return self._pairs[row]

    def _chosen(self, row: int) -> None:
        if 0 <= row < len(self._pairs):
            self.pairChosen.emit(self._pairs[row])
