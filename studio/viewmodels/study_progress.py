"""Progress of a grid or convergence job: how many runs are done, which one runs, its step."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from studio.core.events import JobProgress, StepProgress


class StudyProgress(QObject):
    """Turns a study job's JobProgress and StepProgress events into a fraction and one line."""

    changed = Signal()
    runningChanged = Signal(bool)

    def __init__(self, unit: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.unit = unit
        self.job_id = ""
        self.running = False
        self.done = 0
        self.total = 0
        self.label = ""
        self.step = 0
        self.steps = 0
        self.status = "Ready"

    def begin(self, job_id: str, total: int) -> None:
        self.job_id, self.done, self.total, self.label = job_id, 0, total, ""
        self.step = self.steps = 0
        self.status = "Starting…"
        self._set_running(True)
        self.changed.emit()

    def on_progress(self, event: JobProgress) -> None:
        self.done, self.total, self.label = event.done, event.total, event.label
        self.step = self.steps = 0
        self.changed.emit()

    def on_step(self, event: StepProgress) -> None:
        self.step, self.steps = event.step, event.total
        self.changed.emit()

    def finish_one(self) -> None:
        self.done = min(self.total, self.done + 1)
        self.changed.emit()

    def end(self, job_id: str, status: str) -> None:
        if job_id != self.job_id or not self.running:
            return
        self.status = status
        self._set_running(False)
        self.changed.emit()

    def fraction(self) -> float:
        """Runs done plus the running one's share of its steps, over all runs."""
        if self.total <= 0:
            return 0.0
        partial = self.step / self.steps if self.steps else 0.0
        return min(1.0, (self.done + partial) / self.total)

    def text(self) -> str:
        if not self.running:
            return self.status
        if not self.label:
            return self.status
        step = f" · step {self.step}/{self.steps}" if self.steps else ""
        return f"{self.unit} {self.done + 1}/{self.total} · {self.label}{step}"

    def _set_running(self, running: bool) -> None:
        if running != self.running:
            self.running = running
            self.runningChanged.emit(running)
