"""The jobs waiting for the engine and the one it is running."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from PySide6.QtCore import QObject, Signal


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueEntry:
    """One job as the queue list shows it; `confirmed` once the engine said it holds the job."""

    job_id: str
    summary: str
    confirmed: bool = False


class QueueViewModel(QObject):
    """Lists pending jobs and the running one; cancelling goes through the session's callback."""

    changed = Signal()
    countChanged = Signal(int)

    def __init__(self, cancel_job: Callable[[str], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cancel_job = cancel_job
        self._pending: list[QueueEntry] = []
        self._running: QueueEntry | None = None

    @property
    def pending(self) -> list[QueueEntry]:
        return list(self._pending)

    @property
    def running(self) -> QueueEntry | None:
        return self._running

    @property
    def count(self) -> int:
        return len(self._pending) + (self._running is not None)

    def job_ids(self) -> list[str]:
        """Every job still in the engine's hands: the running one first."""
        running = [self._running.job_id] if self._running else []
        return running + [entry.job_id for entry in self._pending]

    def add(self, job_id: str, summary: str) -> None:
        self._pending.append(QueueEntry(job_id=job_id, summary=summary))
        self._emit()

    def confirm(self, job_id: str) -> None:
        """The engine took a pending job into its queue (the list shows nothing new)."""
        entry = self._find(job_id)
        if entry is not None:
            self._pending[self._pending.index(entry)] = replace(entry, confirmed=True)

    def start(self, job_id: str) -> None:
        entry = self._find(job_id)
        if entry is None:
            return
        self._pending.remove(entry)
        self._running = entry
        self._emit()

    def remove(self, job_id: str) -> None:
        if self._running is not None and self._running.job_id == job_id:
            self._running = None
        elif (entry := self._find(job_id)) is not None:
            self._pending.remove(entry)
        else:
            return
        self._emit()

    def clear(self) -> None:
        if self.count:
            self._pending.clear()
            self._running = None
            self._emit()

    def cancel(self, job_id: str) -> None:
        """Discard one job: a queued one leaves the list at once, the running one when it stops."""
        if job_id not in self.job_ids():
            return
        self._cancel_job(job_id)
        if (entry := self._find(job_id)) is not None:
            self._pending.remove(entry)
            self._emit()

    def _find(self, job_id: str) -> QueueEntry | None:
        return next((e for e in self._pending if e.job_id == job_id), None)

    def _emit(self) -> None:
        self.changed.emit()
        self.countChanged.emit(self.count)
