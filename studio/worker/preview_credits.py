"""The engine process's outbox: previews only on the window's credit, job starts written through.

Inside the engine process the runner's previews go through `CreditedChannel`, an `EventChannel`
that keeps a lane's one-slot mailbox closed from the moment a preview leaves for the window
until the window says its consumer took it (`PreviewTaken` with the preview's job, lane and
step) or the lane finished (the window drops a pending preview of a finished lane itself). So
the runner renders a preview only when the window's consumer took the last one, the pipe holds
at most one preview per lane, and the window never has more than one pending.

A `JobStarted` is written through: `emit` returns only once the pump wrote it to the pipe (or
after `start_barrier_s`), so a process that dies while running a job has always told the window
which job that was, and the window never runs that job again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from studio.core.events import Event, JobStarted, LaneFinished, PreviewReady
from studio.core.jobs import Lane
from studio.worker.mailbox import EventChannel


class CreditedChannel(EventChannel):
    """An EventChannel whose lanes wait for the window's credit before the next preview, and
    whose `JobStarted` events reach the pipe before the job runs."""

    def __init__(self, start_barrier_s: float = 2.0) -> None:
        super().__init__()
        self._credit_lock = threading.Lock()
        self._in_flight: dict[Lane, tuple[str, int]] = {}
        self._start_written = threading.Event()
        self._start_barrier_s = start_barrier_s

    def offer_preview(self, lane: Lane, make: Callable[[], PreviewReady]) -> bool:
        with self._credit_lock:
            if lane in self._in_flight:
                return False
            return super().offer_preview(lane, make)

    def drain(self) -> list[Event]:
        with self._credit_lock:
            out = super().drain()
            for event in out:
                if isinstance(event, PreviewReady):
                    self._in_flight[event.lane] = (event.job_id, event.step)
        return out

    def emit(self, event: Event) -> None:
        if isinstance(event, LaneFinished):
            with self._credit_lock:
                self._in_flight.pop(event.lane, None)
        if not isinstance(event, JobStarted):
            super().emit(event)
            return
        self._start_written.clear()
        super().emit(event)
        self._start_written.wait(self._start_barrier_s)

    def grant(self, job_id: str, lane: Lane, step: int) -> None:
        """The window took the preview of `job_id`'s `lane` at `step`: open the lane again."""
        with self._credit_lock:
            if self._in_flight.get(lane) == (job_id, step):
                del self._in_flight[lane]

    def written(self, event: Event) -> None:
        """The pump wrote `event` to the pipe."""
        if isinstance(event, JobStarted):
            self._start_written.set()
