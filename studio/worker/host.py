"""EngineHost: the local engine, one worker thread running jobs in order."""

from __future__ import annotations

import logging
import queue
import threading
import traceback
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from studio.core import logs
from studio.core.commands import Cancel, Command, Configure, LoadModel, Shutdown, Submit
from studio.core.engine_options import EngineOptions
from studio.core.events import (
    EngineConfigured,
    EngineStatus,
    EngineStopped,
    Event,
    JobCancelled,
    JobFailed,
    JobFinished,
    JobQueued,
    JobStarted,
)
from studio.core.jobs import Job, job_problems
from studio.core.models import ModelRef
from studio.engine.cancel import Cancelled, CancelToken
from studio.engine.encoder_files import check_ahead
from studio.worker.failures import describe_failure, failure_detail
from studio.worker.mailbox import EventChannel, stream_of
from studio.worker.threads import headless_threads, threads_beside_a_window

if TYPE_CHECKING:
    from studio.engine.judge import ImageJudge
    from studio.engine.runner import Runner

log = logging.getLogger(__name__)

_STOP = object()
_WAKE = object()
RENEWED = "The engine restarted: every model was let go, and loads again when a job needs it."
NOT_APPLIED = "Engine settings not applied: {why} The engine keeps its previous settings."
CANNOT_CONFIGURE = "This engine cannot change its settings while it runs; restart Studio."
CRASHED = (
    "The engine thread crashed while running this job ({what}); it recovered, so the next job "
    "will run: try this one again, and see the details in {log}."
)


class RunOutcome(Protocol):
    """How a job ended when it did not raise; `stopped`: stopped with partial images kept."""

    @property
    def stopped(self) -> bool: ...


@runtime_checkable
class Reconfigurable(Protocol):
    """A runner that takes new engine settings between jobs; the sentence saying what they
    mean, or ValueError (nothing changed) when they cannot apply."""

    def configure(self, options: EngineOptions) -> str: ...


@runtime_checkable
class Releasing(Protocol):
    """A runner that gives back what a failed job held (an out-of-memory error's cache)."""

    def after_failure(self) -> None: ...


class JobRunner(Protocol):
    """What the engine thread asks of its runner (`studio.engine.runner.Runner`, or a test's
    scripted one): run a job reporting to the channel, and preload a model reporting to it
    (status lines included). Being a `Releasing` or a `Reconfigurable` is optional: a
    runner that is not keeps its memory or its settings."""

    def run(self, job: Job, token: CancelToken, sink: EventChannel) -> RunOutcome: ...

    def preload(self, ref: ModelRef, sink: EventChannel) -> None: ...


def default_runner_factory(
    options: EngineOptions | None = None,
    judge: ImageJudge | None = None,
    threads: int | None = None,
) -> Runner:
    """Build the torch runner on the worker thread, so importing torch never blocks the UI;
    `options` place the models and size the model cache, `judge` scores convergence images,
    `threads` sets torch's intra-op threads (None: every free core but one, for a window beside
    the engine; a headless command passes `HEADLESS`: torch's own choice, capped at the free
    cores; see `studio.worker.threads`).
    The embedded text encoder's checksum is taken on a second thread meanwhile."""
    check_ahead()
    import torch

    from studio.engine.model_cache import ModelCache
    from studio.engine.pipeline_loader import PipelineLoader
    from studio.engine.runner import Runner

    if threads == HEADLESS:
        torch.set_num_threads(headless_threads(torch.get_num_threads()))
    else:
        torch.set_num_threads(threads or threads_beside_a_window())
    cache = ModelCache.for_options(options or EngineOptions(), loader=PipelineLoader())
    return Runner(cache, judge=judge)


HEADLESS = 0
"""`threads` for a command with no window: torch's own choice (all cores, or OMP_NUM_THREADS),
capped at the free cores unless the user set OMP_NUM_THREADS."""


def judged_runner(options: EngineOptions | None = None, threads: int | None = None) -> Runner:
    """The default runner with the emoji subgroup classifier as its image judge, so convergence
    curves also report classifier agreement (built on the engine thread)."""
    from studio.engine.judge import SubgroupJudge

    return default_runner_factory(options, judge=SubgroupJudge(), threads=threads)


def headless_host(judged: bool = False) -> EngineHost:
    """An in-process engine for a command with no window: every core is the engine's."""
    factory = judged_runner if judged else default_runner_factory
    return EngineHost(runner_factory=partial(factory, threads=HEADLESS))


class EngineHost:
    """Implements EngineClient: accepts commands from any thread, runs jobs on one thread,
    and streams events to one asyncio consumer through `listen()` (from `channel`, which an
    engine process replaces by one that waits for the window's preview credits)."""

    def __init__(
        self,
        runner_factory: Callable[[], JobRunner] = default_runner_factory,
        channel: EventChannel | None = None,
    ) -> None:
        self._factory = runner_factory
        self._channel = channel or EventChannel()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._pending: dict[str, CancelToken] = {}
        self._running: tuple[str, CancelToken] | None = None
        self._closed = False
        self._stopped = False
        self._renew = False
        self._last_final = ""
        self._options: EngineOptions | None = None
        self._thread = self._start_thread()

    def _start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self._work, name="studio-engine", daemon=True)
        thread.start()
        return thread

    def send(self, command: Command) -> None:
        match command:
            case Submit(job=job):
                self._submit(job)
            case Cancel(job_id=job_id, keep_partial=keep):
                self.cancel(job_id, keep)
            case LoadModel():
                self._queue.put(command)
            case Configure():
                self._configure_later(command)
            case Shutdown():
                self.close()

    def submit(self, job: Job) -> str:
        self._submit(job)
        return job.job_id

    def _submit(self, job: Job) -> None:
        found = job_problems(job)
        if found:
            self._channel.emit(JobFailed(job_id=job.job_id, message=" ".join(found)))
            return
        with self._lock:
            if self._closed:
                raise RuntimeError("The engine has shut down.")
            self._pending[job.job_id] = CancelToken()
            position = len(self._pending)
        self._channel.emit(JobQueued(job_id=job.job_id, position=position))
        self._queue.put(job)

    def _configure_later(self, command: Configure) -> None:
        """Queue new settings behind the jobs already queued, so no job changes mid-run."""
        with self._lock:
            if self._closed:
                raise RuntimeError("The engine has shut down.")
        self._queue.put(command)

    def cancel(self, job_id: str, keep_partial: bool = False) -> None:
        """Cancel a queued job at once, or ask the running one to stop; unknown ids are ignored."""
        with self._lock:
            if self._running and self._running[0] == job_id:
                self._running[1].cancel(keep_partial)
                return
            token = self._pending.pop(job_id, None)
        if token is not None:
            token.cancel()
            self._channel.emit(JobCancelled(job_id=job_id))

    def listen(self) -> AsyncIterator[Event]:
        return stream_of(self._channel)

    def close(self, timeout: float = 10.0) -> None:
        with self._lock:
            already = self._closed
            self._closed = True
            pending = list(self._pending.items())
            self._pending.clear()
            if self._running:
                self._running[1].cancel()
        for job_id, token in pending:
            token.cancel()
            self._channel.emit(JobCancelled(job_id=job_id))
        if not already:
            self._queue.put(_STOP)
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def restart(self) -> bool:
        """Cancel the running job and build a fresh runner before the next item, letting go of
        the old one and its models; False when the engine has shut down."""
        with self._lock:
            if self._closed or self._stopped:
                return False
            self._renew = True
            if self._running:
                self._running[1].cancel()
        self._queue.put(_WAKE)
        return True

    def revive(self) -> bool:
        """Start a new engine thread (and runner) if the old one died without being stopped;
        the jobs still queued then run. Whether a thread was started."""
        with self._lock:
            if self._closed or self._stopped or self._thread.is_alive():
                return False
            lost, self._running = self._running, None
            log.error("the engine thread died; starting a new one")
            self._thread = self._start_thread()
        if lost is not None:
            what = "the thread stopped"
            message = CRASHED.format(what=what, log=logs.log_path())
            self._channel.emit(JobFailed(job_id=lost[0], message=message))
        return True

    def _work(self) -> None:
        runner = None
        try:
            runner = self._factory()
        except Exception as exc:
            log.exception("engine start failed")
            self._stopped = True
            self._channel.emit(EngineStopped(reasons=(describe_failure(exc),)))
            return
        if self._options is not None:
            self._apply(runner, Configure(options=self._options))
        while (item := self._queue.get()) is not _STOP:
            if self._renew:
                runner = self._renewed(runner)
            if item is not _WAKE:
                self._serve(runner, item)
        self._stopped = True
        self._channel.emit(EngineStopped())

    def _renewed(self, runner: JobRunner) -> JobRunner:
        """A fresh runner with the settings in force (the old one kept if it cannot be built)."""
        self._renew = False
        try:
            fresh = self._factory()
        except Exception as exc:
            log.exception("the engine could not restart")
            self._channel.emit(JobFailed(job_id="", message=describe_failure(exc)))
            return runner
        if self._options is not None:
            self._apply(fresh, Configure(options=self._options))
        self._channel.emit(EngineStatus(text=RENEWED))
        return fresh

    def _serve(self, runner: JobRunner, item: Job | LoadModel | Configure) -> None:
        """Run one command; whatever escapes it (even a BaseException such as a library's
        SystemExit) fails that job and leaves the thread serving the next one."""
        try:
            if isinstance(item, LoadModel):
                self._preload(runner, item)
            elif isinstance(item, Configure):
                self._apply(runner, item)
            else:
                self._run(runner, item)
        except BaseException as exc:  # the engine thread must outlive any one job
            try:
                self._crashed(runner, item, exc)
            except BaseException:
                log.critical("could not report an engine crash\n%s", traceback.format_exc())

    def _crashed(
        self, runner: JobRunner, item: Job | LoadModel | Configure, exc: BaseException
    ) -> None:
        """End the job in flight with one JobFailed (unless it already ended) after a crash."""
        log.error("the engine thread crashed\n%s", traceback.format_exc())
        with self._lock:
            self._running = None
        job_id = "" if isinstance(item, LoadModel | Configure) else item.job_id
        if job_id and job_id == self._last_final:
            return
        what = failure_detail(exc, 120)
        self._channel.clear_previews()
        message = CRASHED.format(what=what, log=logs.log_path())
        self._channel.emit(JobFailed(job_id=job_id, message=message))
        self._release(runner)

    def _release(self, runner: JobRunner) -> None:
        """Let the runner give back what a failed job held (an out-of-memory error's cache)."""
        if not isinstance(runner, Releasing):
            return
        try:
            runner.after_failure()
        except Exception:
            log.exception("releasing memory after a failure failed")

    def _preload(self, runner: JobRunner, command: LoadModel) -> None:
        try:
            runner.preload(command.ref, self._channel)
        except Exception as exc:
            log.error("preload failed\n%s", traceback.format_exc())
            self._channel.emit(JobFailed(job_id="", message=describe_failure(exc)))

    def _apply(self, runner: JobRunner, command: Configure) -> None:
        """Give the runner new settings; a failure leaves it as it was, and says why."""
        if not isinstance(runner, Reconfigurable):
            self._channel.emit(JobFailed(job_id="", message=CANNOT_CONFIGURE))
            return
        try:
            summary = runner.configure(command.options)
        except Exception as exc:
            log.error("configuring the engine failed\n%s", traceback.format_exc())
            why = (
                str(exc)
                if isinstance(exc, ValueError)
                else f"{failure_detail(exc, 160)} (the details are in {logs.log_path()})."
            )
            self._channel.emit(JobFailed(job_id="", message=NOT_APPLIED.format(why=why)))
            return
        self._options = command.options
        self._channel.emit(EngineConfigured(summary=summary, options=command.options))

    def _take(self, job: Job) -> CancelToken | None:
        with self._lock:
            token = self._pending.pop(job.job_id, None)
            if token is not None:
                self._running = (job.job_id, token)
            return token

    def _run(self, runner: JobRunner, job: Job) -> None:
        token = self._take(job)
        if token is None:
            return
        self._channel.emit(JobStarted(job_id=job.job_id))
        try:
            final = self._execute(runner, job, token)
        finally:
            with self._lock:
                self._running = None
            self._channel.clear_previews()
        self._channel.emit(final)
        self._last_final = job.job_id
        if isinstance(final, JobFailed):
            self._release(runner)

    def _execute(self, runner: JobRunner, job: Job, token: CancelToken) -> Event:
        try:
            outcome = runner.run(job, token, self._channel)
        except Cancelled:
            return JobCancelled(job_id=job.job_id)
        except Exception as exc:
            # The log gets text, not exc_info: a handler that keeps records would otherwise keep
            # the traceback's frames, and with them the pipeline, alive.
            detail = traceback.format_exc()
            log.error("job %s failed\n%s", job.job_id, detail)
            return JobFailed(job_id=job.job_id, message=describe_failure(exc), detail=detail)
        if outcome.stopped:
            return JobCancelled(job_id=job.job_id, kept_partial=True)
        return JobFinished(job_id=job.job_id)
