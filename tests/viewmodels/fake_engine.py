"""A scripted EngineClient for UI tests: the real host's event order, no threads, no torch."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import numpy as np

from studio.core.commands import Cancel, Command, Configure, LoadModel, Shutdown, Submit
from studio.core.events import (
    CompareFinished,
    EngineConfigured,
    EngineStatus,
    EngineStopped,
    Event,
    JobCancelled,
    JobFailed,
    JobFinished,
    JobQueued,
    JobStarted,
    LaneFinished,
    ModelLoaded,
    PrepareProgress,
    PreviewReady,
    StepProgress,
    Timings,
)
from studio.core.jobs import CompareJob, ConvergeJob, GridJob, Job, Lane, LaneSpec
from studio.core.metrics import psnr, speedup, ssim
from studio.core.samplers import find_sampler
from tests.viewmodels.fake_studies import convergence_script, grid_script

FAIL_MESSAGE = "The device ran out of memory: try a smaller size or batch, or close other models."
STEP_S = 0.01
LANE_SHADES = {Lane.main: 200, Lane.teacher: 200, Lane.student: 190}
RESTARTED = "The engine restarted (fake engine)."
CONFIGURED = "Engine settings applied: {device}, up to {models} models (fake engine)."
GAMMA_TASKS = ("sampling clean data for the Gamma table", "estimating the Gamma table")


@dataclass
class FakeToken:
    """A job's cancel flags, as the engine's CancelToken keeps them."""

    cancelled: bool = False
    keep_partial: bool = False

    def cancel(self, keep_partial: bool = False) -> None:
        self.cancelled = True
        self.keep_partial = keep_partial


def fake_image(spec: LaneSpec, shade: int) -> np.ndarray:
    """A read-only uint8 HxWx3 image of one shade, the size the lane asked for."""
    image = np.full((spec.params.height, spec.params.width, 3), shade % 256, dtype=np.uint8)
    image.flags.writeable = False
    return image


def _steps(job: Job, lane: Lane, spec: LaneSpec, step: int, total: int) -> Iterator[Event]:
    yield StepProgress(
        job_id=job.job_id, lane=lane, step=step, total=total, elapsed_s=STEP_S * (step + 1)
    )
    if job.previews.enabled and step % job.previews.every == 0:
        x_t = fake_image(spec, 10 * step)
        x0 = fake_image(spec, LANE_SHADES[lane] - step)
        yield PreviewReady(job_id=job.job_id, lane=lane, step=step, total=total, x_t=x_t, x0=x0)


def needs_table(spec: LaneSpec, tables: set[str]) -> bool:
    """Whether the lane's sampler needs a Gamma table that its model does not have yet."""
    sampler = find_sampler(spec.params.sampler)
    return sampler is not None and sampler.needs_gamma_table and spec.model.location not in tables


def _prepare(job: Job, lane: Lane, units: int, token: FakeToken) -> Iterator[Event]:
    """The engine's table work before a lane's first step: `units` per task, until a cancel."""
    for task in GAMMA_TASKS:
        for done in range(1, units + 1):
            if token.cancelled:
                return
            yield PrepareProgress(job_id=job.job_id, lane=lane, task=task, done=done, total=units)


def _finished(job: Job, lane: Lane, spec: LaneSpec, done: int) -> LaneFinished:
    total = spec.params.num_inference_steps
    image = fake_image(spec, LANE_SHADES[lane])
    timings = Timings(step_s=(STEP_S,) * done, total_s=STEP_S * (done + 1))
    return LaneFinished(
        job_id=job.job_id,
        lane=lane,
        images=(image,) * spec.params.batch_size,
        params=spec.params,
        model=spec.model,
        timings=timings,
        steps=done,
        partial=done < total,
    )


def job_script(
    job: Job,
    token: FakeToken | None = None,
    *,
    fail_at_step: int | None = None,
    gamma_units: int = 0,
    tables: set[str] | None = None,
) -> Iterator[Event]:
    """The events of one job after JobQueued, honouring `token` between steps.

    With `gamma_units`, a lane whose sampler needs a Gamma table its model lacks (`tables`
    names the models that have one) first reports that many units of each table task; any
    cancel then ends the job, as the engine's table work does.
    """
    token = token or FakeToken()
    tables = set() if tables is None else tables
    yield JobStarted(job_id=job.job_id)
    if isinstance(job, GridJob):
        yield from grid_script(job, token)
        return
    if isinstance(job, ConvergeJob):
        yield from convergence_script(job, token)
        return
    results: dict[Lane, LaneFinished] = {}
    for lane, spec in job.lanes:
        if token.cancelled:
            break
        yield ModelLoaded(job_id=job.job_id, lane=lane, model=spec.model, device="cpu", load_s=0.1)
        if gamma_units and needs_table(spec, tables):
            yield from _prepare(job, lane, gamma_units, token)
            if token.cancelled:
                yield JobCancelled(job_id=job.job_id)
                return
            tables.add(spec.model.location)
        total, done = spec.params.num_inference_steps, 0
        for step in range(1, total + 1):
            if token.cancelled and not token.keep_partial:
                yield JobCancelled(job_id=job.job_id)
                return
            if step == fail_at_step:
                yield JobFailed(job_id=job.job_id, message=FAIL_MESSAGE, detail="injected")
                return
            yield from _steps(job, lane, spec, step, total)
            done = step
            if token.keep_partial:
                break
        results[lane] = _finished(job, lane, spec, done)
        yield results[lane]
    if token.cancelled:
        yield JobCancelled(job_id=job.job_id, kept_partial=token.keep_partial)
        return
    if isinstance(job, CompareJob):
        yield compare_event(job.job_id, results[Lane.teacher], results[Lane.student])
    yield JobFinished(job_id=job.job_id)


def compare_event(job_id: str, teacher: LaneFinished, student: LaneFinished) -> CompareFinished:
    a, b = teacher.images[0], student.images[0]
    return CompareFinished(
        job_id=job_id,
        speedup=speedup(teacher.timings.total_s, student.timings.total_s),
        psnr=psnr(a, b),
        ssim=ssim(a, b),
    )


def configured(command: Configure) -> EngineConfigured:
    options = command.options
    summary = CONFIGURED.format(device=options.device.value, models=options.max_models)
    return EngineConfigured(summary=summary, options=options)


class FakeEngine:
    """Implements EngineClient from a script: records commands, runs jobs one at a time.

    `pump(handler)` delivers every due event synchronously (for tests that call `handle`);
    `listen()` delivers the same stream to an asyncio consumer. `fail_at_step` makes the
    first lane of every job fail at that step; `gamma_units` makes the first lane on a model
    with an analytic-variance sampler report its Gamma table work first (see `job_script`).
    """

    def __init__(
        self, *, fail_at_step: int | None = None, delay_s: float = 0.0, gamma_units: int = 0
    ) -> None:
        self.sent: list[Command] = []
        self.fail_at_step = fail_at_step
        self.gamma_units = gamma_units
        self.tables: set[str] = set()
        self.delay_s = delay_s
        self.running: str | None = None
        self.restarts = 0
        self.closed = False
        self._stopped = False
        self._queue: deque[Job | Configure] = deque()
        self._outbox: deque[Event] = deque()
        self._tokens: dict[str, FakeToken] = {}
        self._wake = asyncio.Event()

    @property
    def alive(self) -> bool:
        return not self.closed

    def revive(self) -> bool:
        """A scripted engine never dies on its own, so there is nothing to restart."""
        return False

    def restart(self) -> bool:
        """Count the restart; the running job ends cancelled, as a real engine's does."""
        self.restarts += 1
        if self.running:
            self._tokens[self.running].cancel()
        self._emit(EngineStatus(text=RESTARTED))
        return True

    @property
    def jobs(self) -> list[Job]:
        return [c.job for c in self.sent if isinstance(c, Submit)]

    def send(self, command: Command) -> None:
        if self.closed:
            raise RuntimeError("The engine has shut down.")
        self.sent.append(command)
        match command:
            case Submit(job=job):
                self._tokens[job.job_id] = FakeToken()
                self._queue.append(job)
                self._emit(JobQueued(job_id=job.job_id, position=len(self._queue)))
            case Cancel(job_id=job_id, keep_partial=keep):
                self._cancel(job_id, keep)
            case Shutdown():
                self.close()
            case Configure():
                self._queue.append(command)
            case LoadModel():
                pass

    def _cancel(self, job_id: str, keep_partial: bool) -> None:
        jobs = (job for job in self._queue if not isinstance(job, Configure))
        queued = next((job for job in jobs if job.job_id == job_id), None)
        if queued is not None:
            self._queue.remove(queued)
            self._emit(JobCancelled(job_id=job_id))
        elif job_id == self.running:
            self._tokens[job_id].cancel(keep_partial)

    def announce(self, text: str) -> None:
        """A status line, as the engine emits around a model load (`Loading …`, `Ready · …`)."""
        self._emit(EngineStatus(text=text))

    def _emit(self, event: Event) -> None:
        self._outbox.append(event)
        self._wake.set()

    def close(self, timeout: float = 10.0) -> None:
        if self.closed:
            return
        for job in list(self._queue):
            if not isinstance(job, Configure):
                self._emit(JobCancelled(job_id=job.job_id))
        self._queue.clear()
        if self.running:
            self._tokens[self.running].cancel()
        self.closed = True
        self._wake.set()

    def events(self) -> Iterator[Event]:
        """Every event due now, in order, running queued jobs to their end."""
        while True:
            if self._outbox:
                yield self._outbox.popleft()
            elif self._queue:
                item = self._queue.popleft()
                if isinstance(item, Configure):
                    yield configured(item)
                else:
                    yield from self._run(item)
            elif self.closed and not self._stopped:
                self._stopped = True
                yield EngineStopped()
            else:
                return

    def _run(self, job: Job) -> Iterator[Event]:
        self.running = job.job_id
        try:
            script = job_script(
                job,
                self._tokens[job.job_id],
                fail_at_step=self.fail_at_step,
                gamma_units=self.gamma_units,
                tables=self.tables,
            )
            for event in script:
                yield event
                while self._outbox:
                    yield self._outbox.popleft()
        finally:
            self.running = None

    def pump(self, handler: Callable[[Event], None]) -> int:
        """Hand every due event to `handler`; how many there were."""
        count = 0
        for event in self.events():
            handler(event)
            count += 1
        return count

    async def listen(self) -> AsyncIterator[Event]:
        while True:
            for event in self.events():
                yield event
                if isinstance(event, EngineStopped):
                    return
                await asyncio.sleep(self.delay_s)
            self._wake.clear()
            await self._wake.wait()
