"""ProcessEngine: the engine in a child process, behind the same EngineClient protocol.

The window's process keeps no torch: it starts `studio.worker.engine_child` at once, writes
command frames to its stdin and reads event frames from its stdout (`studio.core.wire_frames`,
no pickle), on threads of a `ChildLink`; the events reach the one async consumer of `listen()`
through the same `EventChannel` as the thread engine's.

Previews travel on credit, end to end. The child's outbox (`preview_credits.CreditedChannel`)
keeps a lane closed from the moment one of its previews leaves until this side answers with
`PreviewTaken(job_id, lane, step)`, which `listen()` sends once the consumer has taken that
preview (or when this side could not hold it). A lane's credit also comes back when the lane
finishes, on both sides at once (the pipe keeps order). So the runner renders a preview only
when the UI took the last one, the pipe carries at most one per lane, and the UI never holds
more than one pending per lane; nothing is rendered only to be thrown away.

Crash isolation: every submitted job that has not ended is kept here, in order. When the child
ends without being asked (SIGKILL, SIGSEGV, an exit), its events up to the end are all
delivered, the job it had started gets one `JobFailed` saying what happened, the log names the
exit signal or code, an `EngineStatus` says the engine restarts, and a new child gets the jobs
that had not started (the child writes `JobStarted` through before it runs a job, so a started
job is never run again). `restart()` does the same on purpose: the child stops cleanly (its
running job ends cancelled), a fresh one frees all model memory, and the queue goes on. Every
job ends exactly once: a job's second final event is dropped, and close() cancels what is left.
A new child starts with the settings last in force (`--options`) and gets again, after the
waiting jobs, settings that were sent but neither applied nor refused.
All spawning happens on one supervisor thread, which lives as long as the engine (Linux sends a
child its parent-death signal when the spawning thread ends).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import cast

from studio.core.commands import Cancel, Command, Configure, Shutdown, Submit
from studio.core.engine_options import EngineOptions
from studio.core.events import (
    EngineConfigured,
    EngineStatus,
    EngineStopped,
    Event,
    JobCancelled,
    JobFailed,
    JobFinished,
    JobStarted,
    PreviewReady,
)
from studio.core.jobs import Job
from studio.core.wire import Message
from studio.core.wire_control import PreviewTaken
from studio.core.wire_frames import encode
from studio.worker.child_link import ChildLink
from studio.worker.child_start import child_command, child_environment, describe_exit
from studio.worker.engine_child import RUNNERS
from studio.worker.host import CANNOT_CONFIGURE, NOT_APPLIED
from studio.worker.mailbox import EventChannel

log = logging.getLogger(__name__)

CRASHED = (
    "The engine process {what} while running this job; it restarts, and the queued jobs go on."
)
RESTARTING = "The engine process {what}; restarting it…"
GAVE_UP = (
    "The engine process {what}, {count} times within a minute, so Studio stopped restarting "
    "it: use Restart engine to try again."
)
NOT_RUN = "The engine stopped before this job ran: {why}"
STOPPED = "The engine has stopped: use Restart engine to start it again."
CRASH_WINDOW_S = 60.0


def frame(message: Command | Event | PreviewTaken) -> bytes:
    return encode(cast(Message, message))


class ProcessEngine:
    """Implements EngineClient with the engine in a child process that restarts after a crash;
    `restart()` swaps in a fresh process on purpose, keeping the queue."""

    def __init__(
        self,
        runner: str = "default",
        options: EngineOptions | None = None,
        *,
        max_crashes: int = 5,
        shutdown_grace_s: float = 8.0,
    ) -> None:
        if runner not in RUNNERS:
            raise ValueError(f"The engine runner must be one of {', '.join(sorted(RUNNERS))}.")
        self._runner, self._options = runner, options
        self._max_crashes, self._grace_s = max_crashes, shutdown_grace_s
        self._channel = EventChannel()
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._wanted: EngineOptions | None = None
        self._cancels: set[str] = set()
        self._crashes: deque[float] = deque()
        self._live: set[ChildLink] = set()
        self._closing = False
        self._stopped = False
        self._actions: queue.Queue[tuple[str, ChildLink | None]] = queue.Queue()
        self._link = self._new_link(restarted=False)
        self._supervisor = threading.Thread(
            target=self._supervise, name="studio-engine-supervisor", daemon=True
        )
        self._supervisor.start()
        self._actions.put(("start", self._link))

    def _new_link(self, restarted: bool) -> ChildLink:
        def command() -> list[str]:
            return child_command(self._runner, self._options, restarted)

        return ChildLink(command, child_environment(), self._on_message, self._on_end)

    # -- the EngineClient protocol, called from the UI thread ---------------------------------

    def send(self, command: Command) -> None:
        if isinstance(command, Shutdown):
            self.close()
            return
        data = frame(command)
        with self._lock:
            if self._closing:
                raise RuntimeError("The engine has shut down.")
            if self._stopped:
                if isinstance(command, Cancel):
                    return
                raise RuntimeError(STOPPED)
            if isinstance(command, Submit):
                self._jobs[command.job.job_id] = command.job
                self._link.sent.add(command.job.job_id)
            elif isinstance(command, Cancel) and command.job_id in self._jobs:
                self._cancels.add(command.job_id)
            elif isinstance(command, Configure):
                self._wanted = command.options
                self._link.configured = True
            self._link.put(data)

    async def listen(self) -> AsyncIterator[Event]:
        wake = self._channel.bind(asyncio.get_running_loop())
        while True:
            await wake.wait()
            wake.clear()
            batch = deque(self._channel.drain())
            try:
                while batch:
                    event = batch[0]
                    yield event
                    batch.popleft()
                    self._give_credit(event)
                    if isinstance(event, EngineStopped):
                        return
            finally:
                for event in batch:
                    self._give_credit(event)

    def close(self, timeout: float = 10.0) -> None:
        with self._lock:
            already, self._closing = self._closing, True
        if not already:
            self._actions.put(("close", None))
        self._supervisor.join(timeout)
        if self._supervisor.is_alive():
            log.error("the engine process did not stop in %.0f s; killing it", timeout)
            for link in list(self._live):
                link.kill()
            self._supervisor.join(2.0)

    @property
    def alive(self) -> bool:
        return not self._stopped and self._supervisor.is_alive()

    def revive(self) -> bool:
        """Start a new engine process after Studio stopped restarting a crashing one (the
        stream ended then: listen again). Whether one was started."""
        with self._lock:
            if self._closing or not self._stopped:
                return False
            self._stopped = False
            self._crashes.clear()
            self._link = self._new_link(restarted=True)
            self._actions.put(("start", self._link))
        return True

    def restart(self) -> bool:
        """Stop the engine process cleanly (its running job ends cancelled) and start a fresh
        one, which frees all model memory; queued jobs then run there. A stopped engine is
        revived instead. Whether it restarts."""
        if self._stopped:
            return self.revive()
        with self._lock:
            if self._closing or self._stopped or self._link.retiring:
                return False
            old, self._link = self._link, self._new_link(restarted=True)
            old.retiring = "restart"
        self._actions.put(("restart", old))
        return True

    @property
    def child_pid(self) -> int | None:
        """The engine process's id, once started (for tests and diagnostics)."""
        return self._link.pid

    # -- the reader threads ---------------------------------------------------------------------

    def _on_message(self, link: ChildLink, message: Message) -> None:
        if isinstance(message, PreviewReady):
            if not self._channel.offer_preview(message.lane, lambda: message):
                self._give_credit(message)
            return
        with self._lock:
            forward = self._account(link, message)
        if forward:
            self._channel.emit(cast(Event, message))

    def _account(self, link: ChildLink, message: Message) -> bool:
        """Update what is known of the jobs; whether the UI gets the message."""
        if isinstance(message, JobStarted):
            link.started.add(message.job_id)
            link.running = message.job_id
        elif isinstance(message, JobFinished | JobCancelled | JobFailed):
            return self._account_final(link, message)
        elif isinstance(message, EngineConfigured):
            self._options = message.options
            if message.options == self._wanted:
                self._wanted = None
        elif isinstance(message, EngineStopped):
            link.stopped_reasons = message.reasons
            return False
        elif isinstance(message, Command | PreviewTaken):
            log.warning("the engine process sent a command (%s)", type(message).__name__)
            return False
        return True

    def _settings_refused(self, message: str) -> None:
        """A failure without a job may be the engine refusing the settings last sent."""
        if message == CANNOT_CONFIGURE or message.startswith(NOT_APPLIED.split("{", 1)[0]):
            self._wanted = None

    def _account_final(self, link: ChildLink, event: Event) -> bool:
        job_id = event.job_id
        if not job_id:
            if isinstance(event, JobFailed):
                self._settings_refused(event.message)
            return True
        if link.running == job_id:
            link.running = None
        handed_on = link.retiring == "restart" and job_id not in link.started
        if handed_on and isinstance(event, JobCancelled):
            return False
        if job_id not in self._jobs:
            return False
        del self._jobs[job_id]
        self._cancels.discard(job_id)
        return True

    def _on_end(self, link: ChildLink) -> None:
        self._actions.put(("ended", link))

    def _give_credit(self, event: Event) -> None:
        if not isinstance(event, PreviewReady):
            return
        taken = PreviewTaken(job_id=event.job_id, lane=event.lane, step=event.step)
        with self._lock:
            self._link.put(frame(taken))

    # -- the supervisor thread --------------------------------------------------------------------

    def _supervise(self) -> None:
        handlers: dict[str, Callable[[ChildLink | None], bool]] = {
            "start": self._start,
            "restart": self._retire_for_restart,
            "close": self._begin_close,
            "ended": self._ended,
        }
        while True:
            try:
                action, link = self._actions.get(timeout=self._next_deadline())
            except queue.Empty:
                self._kill_overdue()
                continue
            if handlers[action](link):
                return

    def _next_deadline(self) -> float | None:
        deadlines = [link.deadline for link in self._live if link.retiring]
        return max(0.05, min(deadlines) - time.monotonic()) if deadlines else None

    def _kill_overdue(self) -> None:
        now = time.monotonic()
        for link in self._live:
            if link.retiring and link.deadline <= now:
                link.kill()

    def _start(self, link: ChildLink | None) -> bool:
        assert link is not None
        with self._lock:
            if self._closing or link is not self._link or link.process is not None:
                return False
            prelude, cancelled = self._handover(link)
        for job_id in cancelled:
            self._channel.emit(JobCancelled(job_id=job_id))
        try:
            link.start(prelude)
        except OSError as exc:
            log.error("could not start the engine process: %s", exc)
            self._give_up(f"The engine process could not start ({exc}).")
            return False
        self._live.add(link)
        log.info("engine process %d started: %s", link.pid, " ".join(link.argv[:4]))
        return False

    def _handover(self, link: ChildLink) -> tuple[list[bytes], list[str]]:
        """The Submit frames of the waiting jobs that `link` was not sent yet, in order, then
        the settings sent but not yet in force; and the ids of the jobs cancelled meanwhile
        (ended here instead)."""
        cancelled = [j for j in self._jobs if j in self._cancels and j not in link.sent]
        for job_id in cancelled:
            del self._jobs[job_id]
            self._cancels.discard(job_id)
        waiting = [job for job_id, job in self._jobs.items() if job_id not in link.sent]
        link.sent.update(job.job_id for job in waiting)
        prelude = [frame(Submit(job=job)) for job in waiting]
        if self._wanted is not None and not link.configured:
            prelude.append(frame(Configure(options=self._wanted)))
            link.configured = True
        return prelude, cancelled

    def _retire_for_restart(self, old: ChildLink | None) -> bool:
        assert old is not None
        if old in self._live:
            old.retire("restart", frame(Shutdown()), self._grace_s)
        else:
            self._actions.put(("start", self._link))
        return False

    def _begin_close(self, _: ChildLink | None) -> bool:
        for link in self._live:
            if link.retiring:
                link.retiring = "close"
            else:
                link.retire("close", frame(Shutdown()), self._grace_s)
        if self._live:
            return False
        self._finish(reasons=())
        return True

    def _ended(self, link: ChildLink | None) -> bool:
        assert link is not None
        code = link.reap(5.0)
        link.finish()
        link.join(2.0)
        self._live.discard(link)
        log.info("engine process %s ended (exit status %s)", link.pid, code)
        if self._closing:
            return self._ended_while_closing(link)
        if link.retiring == "restart":
            self._end_running(link, lambda job_id: JobCancelled(job_id=job_id))
            return self._start(self._link)
        if link.stopped_reasons is not None:
            self._give_up(" ".join(link.stopped_reasons) or "The engine stopped.")
            return False
        return self._crashed(link, code)

    def _ended_while_closing(self, link: ChildLink) -> bool:
        if self._live:
            return False
        self._finish(reasons=link.stopped_reasons or ())
        return True

    def _crashed(self, link: ChildLink, code: int | None) -> bool:
        what = describe_exit(code)
        log.error("the engine process %s %s (exit status %s)", link.pid, what, code)
        now = time.monotonic()
        self._crashes.append(now)
        while self._crashes and now - self._crashes[0] > CRASH_WINDOW_S:
            self._crashes.popleft()
        self._channel.clear_previews()
        if len(self._crashes) >= self._max_crashes:
            why = GAVE_UP.format(what=what, count=len(self._crashes))
            self._end_running(link, lambda job_id: JobFailed(job_id=job_id, message=why))
            self._give_up(why)
            return False
        message = CRASHED.format(what=what)
        detail = f"engine process {link.pid} ended with exit status {code}"
        self._end_running(
            link, lambda job_id: JobFailed(job_id=job_id, message=message, detail=detail)
        )
        self._channel.emit(EngineStatus(text=RESTARTING.format(what=what)))
        with self._lock:
            if self._link is link:
                self._link = self._new_link(restarted=True)
        return self._start(self._link)

    def _end_running(self, link: ChildLink, make: Callable[[str], Event]) -> None:
        """End the job `link` had started and not finished, if any."""
        with self._lock:
            job_id = link.running
            link.running = None
            if job_id is None or job_id not in self._jobs:
                return
            del self._jobs[job_id]
            self._cancels.discard(job_id)
        self._channel.emit(make(job_id))

    def _give_up(self, why: str) -> None:
        """Stop restarting: every waiting job fails with `why`, and the stream ends."""
        self._stop(lambda job_id: JobFailed(job_id=job_id, message=NOT_RUN.format(why=why)), (why,))

    def _finish(self, reasons: tuple[str, ...]) -> None:
        """After close: every job still waiting ends cancelled, and the stream ends."""
        self._stop(lambda job_id: JobCancelled(job_id=job_id), reasons)

    def _stop(self, make: Callable[[str], Event], reasons: tuple[str, ...]) -> None:
        """End every waiting job with `make`, then the stream (once), taking no more jobs."""
        with self._lock:
            waiting = list(self._jobs)
            self._jobs.clear()
            self._cancels.clear()
            already, self._stopped = self._stopped, True
        for job_id in waiting:
            self._channel.emit(make(job_id))
        if not already:
            self._channel.emit(EngineStopped(reasons=reasons))
