"""One lane's progress: a thin bar and a line like "step 12/25 · ETA 0.8 s" or "preparing 3/50"."""

from __future__ import annotations

import math
from typing import Literal, get_args

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

LaneState = Literal["idle", "running", "done", "stopped", "cancelled", "failed"]
LANE_STATES: tuple[str, ...] = get_args(LaneState)
BAR_STYLE = """
QProgressBar { border: 1px solid palette(mid); border-radius: 3px; background: palette(base); }
QProgressBar::chunk { background: #3d8ee6; border-radius: 2px; }
QProgressBar[state="done"]::chunk { background: #3aa55d; }
QProgressBar[state="cancelled"]::chunk { background: #9a9a9a; }
QProgressBar[state="stopped"]::chunk { background: #9a9a9a; }
QProgressBar[state="failed"]::chunk { background: #d64541; }
"""


def format_eta(seconds: float) -> str:
    """0.8 s, 12 s, 2 min 05 s."""
    if seconds < 9.95:
        return f"{seconds:.1f} s"
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def progress_text(step: int, total: int, eta_s: float | None = None) -> str:
    """'step 12/25 · ETA 0.8 s'; without a total or a usable ETA those parts are left out."""
    text = f"step {step}/{total}" if total > 0 else f"step {step}"
    if eta_s is not None and math.isfinite(eta_s) and eta_s >= 0 and step < total:
        text += f" · ETA {format_eta(eta_s)}"
    return text


def state_text(state: str, step: int, total: int, eta_s: float | None) -> str:
    """The status line for a lane in `state` at `step` of `total`."""
    at = f"{step}/{total}" if total > 0 else str(step)
    if state in ("stopped", "cancelled", "failed") and step == 0:
        return f"{state} before its first step"
    texts = {
        "idle": "idle",
        "running": progress_text(step, total, eta_s),
        "done": f"done · {total or step} steps",
        "stopped": f"stopped at step {at} · partial image kept",
        "cancelled": f"cancelled at step {at}",
        "failed": f"failed at step {at}",
    }
    return texts[state]


def preparing_text(state: str, done: int, total: int) -> str:
    """The status line for a lane (running, cancelled or failed) before its first step."""
    return f"preparing {done}/{total}" if state == "running" else f"{state} while preparing"


class LaneProgress(QWidget):
    """Shows how far one lane's run has got, and how it ended."""

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state: str = "idle"
        self._step, self._total = 0, 0
        self._eta: float | None = None
        self._preparing: tuple[int, int] | None = None
        self.title_label = QLabel(title)
        self.title_label.setObjectName("laneTitle")
        self.title_label.setVisible(bool(title))
        self.bar = QProgressBar()
        self.bar.setObjectName("laneProgressBar")
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(10)
        self.bar.setStyleSheet(BAR_STYLE)
        self.status_label = QLabel()
        self.status_label.setObjectName("laneStatus")
        self.status_label.setMinimumWidth(self.fontMetrics().horizontalAdvance(" step 999/999"))
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.title_label)
        row.addWidget(self.bar, 1)
        row.addWidget(self.status_label)
        self._render()

    def set_title(self, title: str) -> None:
        self.title_label.setText(title)
        self.title_label.setVisible(bool(title))

    def set_progress(self, step: int, total: int, eta_s: float | None = None) -> None:
        """Step `step` of `total` done; setting progress marks an idle lane as running."""
        self._step, self._total, self._eta = step, total, eta_s
        self._set_preparing(None, "")
        if self._state == "idle":
            self._state = "running"
        self._render()

    def set_preparing(self, done: int, total: int, detail: str = "") -> None:
        """`done` of `total` units of one-off work before the first step; `detail` is the tip."""
        self._set_preparing((done, total), detail)
        if self._state == "idle":
            self._state = "running"
        self._render()

    def preparing(self) -> bool:
        return self._preparing is not None

    def _set_preparing(self, fraction: tuple[int, int] | None, detail: str) -> None:
        self._preparing = fraction
        self.bar.setToolTip(detail)
        self.status_label.setToolTip(detail)

    def set_state(self, state: LaneState) -> None:
        if state not in LANE_STATES:
            raise ValueError(f"unknown lane state {state!r}; expected one of {LANE_STATES}")
        self._state = state
        if state == "idle":
            self._step, self._total, self._eta = 0, 0, None
            self._set_preparing(None, "")
        self._render()

    def state(self) -> str:
        return self._state

    def text(self) -> str:
        return self.status_label.text()

    def _render(self) -> None:
        full = self._state == "done"
        preparing = None if full else self._preparing
        done, total = preparing or (self._step, self._total)
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(self.bar.maximum() if full else min(done, self.bar.maximum()))
        if preparing is not None:
            self.status_label.setText(preparing_text(self._state, done, total))
        else:
            self.status_label.setText(state_text(self._state, done, total, self._eta))
        if self.bar.property("state") != self._state:
            self.bar.setProperty("state", self._state)
            self.bar.style().unpolish(self.bar)
            self.bar.style().polish(self.bar)
