"""Cancel cases run end to end: a real EngineHost over a gated Runner, the real session and
gallery, and cancels sent the way the queue's Remove button sends them.

Each case pauses a job (the victim) at one point, cancels it there (twice through the queue,
once more straight to the engine), releases it and checks: the victim ends in the expected
final state within one step plus 2 s, nothing of it reaches the gallery, and the next job (the
probe) makes exactly the image a fresh process makes (see reference_images), as sent and as
saved. The probe is then cancelled after it finished, which must change nothing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from studio.core.events import (
    FINAL_EVENTS,
    Event,
    JobCancelled,
    JobFinished,
    JobStarted,
    LaneFinished,
)
from studio.core.gallery import GalleryItem, GalleryStore, read_item
from studio.core.jobs import Job
from studio.viewmodels.gallery import LANE_KEY
from studio.viewmodels.session import SessionViewModel
from tests.worker.phase_gate import Phase, PhaseGate, Point
from tests.worker.reference_images import image_key

IDLE_MARGIN_S = 2.0
WAIT_S = 120.0
ENGINE_THREAD = "studio-engine"
Stamp = tuple[float, float]


def engine_cpu_s() -> float:
    """CPU seconds the engine thread has used so far (0 where the platform cannot tell)."""
    clock_of = getattr(time, "pthread_getcpuclockid", None)
    for thread in threading.enumerate():
        if thread.name == ENGINE_THREAD and thread.ident is not None and clock_of is not None:
            try:
                return time.clock_gettime(clock_of(thread.ident))
            except OSError:
                return 0.0
    return 0.0


def stamp() -> Stamp:
    """Now, as wall-clock seconds and as the engine thread's CPU seconds."""
    return time.perf_counter(), engine_cpu_s()


class GatedStore(GalleryStore):
    """A gallery store that runs an action at the start of its next save (a cancel, say)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.during_save: Callable[[], None] | None = None

    def save(self, image: Any, params: Any, **kwargs: Any) -> GalleryItem:
        action, self.during_save = self.during_save, None
        if action is not None:
            action()
        return super().save(image, params, **kwargs)


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One cancel: where, the victim, the probe that follows, and the job it queues behind.
    Every job of a bench needs its own seed (saved images are told apart by seed and lane)."""

    point: Point
    victim: Job
    probe: Job
    blocker: Job | None = None

    @property
    def pause(self) -> Point:
        """Where the engine waits: a queued victim's blocker waits before its first step."""
        if self.point.phase is Phase.queued:
            return Point(phase=Phase.step, step=1)
        return self.point

    @property
    def expected_final(self) -> type:
        """Finishing the last lane, and saving, come after the engine's work is done, so it
        reports the job finished (the session, told to discard it, saves nothing of it)."""
        last_lane = self.point.lane == len(self.victim.lanes) - 1
        if self.point.phase is Phase.saving or (self.point.phase is Phase.finishing and last_lane):
            return JobFinished
        return JobCancelled

    def reference_jobs(self) -> list[Job]:
        """The jobs whose images must equal a fresh process's."""
        kept = [self.victim] if self.point.phase is Phase.saving else []
        return [*kept, self.probe, *([self.blocker] if self.blocker else [])]


@dataclass(slots=True, kw_only=True)
class CaseResult:
    """What one case showed; `problems` empty means it passed."""

    label: str
    seed: int
    final: str
    latency_s: float
    engine_cpu_s: float
    bound_s: float
    problems: list[str] = field(default_factory=list)


def seed_of(job: Job) -> int:
    return job.lanes[0][1].params.seed


class CancelBench:
    """Drives cases against one host and session, stamping every event as it arrives."""

    def __init__(
        self,
        *,
        host: Any,
        gate: PhaseGate,
        session: SessionViewModel,
        store: GatedStore,
        clear_models: Callable[[], None],
        references: dict[str, np.ndarray],
    ) -> None:
        self.host, self.gate, self.session, self.store = host, gate, session, store
        self.clear_models = clear_models
        self.references = references
        self.events: list[tuple[float, Event]] = []
        self.final_cpu: dict[str, float] = {}
        self.max_step_s = 0.0
        self.saved: dict[tuple[int, str], list[Path]] = {}
        self.expected_files = 0
        self._consumer: asyncio.Future[None] | None = None
        session.gallery.saved.connect(self._on_saved)

    async def __aenter__(self) -> CancelBench:
        self._consumer = asyncio.ensure_future(self._consume())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.gate.disarm()
        self.host.close()
        if self._consumer is not None:
            await asyncio.wait_for(self._consumer, WAIT_S)

    async def _consume(self) -> None:
        async for event in self.host.listen():
            self.events.append((time.perf_counter(), event))
            if isinstance(event, FINAL_EVENTS):
                self.final_cpu[event.job_id] = engine_cpu_s()
            if isinstance(event, LaneFinished) and event.timings.step_s:
                self.max_step_s = max(self.max_step_s, *event.timings.step_s)
            self.session.handle(event)

    def _on_saved(self, item: GalleryItem) -> None:
        parsed = item.parsed
        key = (parsed.params.seed, parsed.extra.get(LANE_KEY, "")) if parsed else (-1, "")
        self.saved.setdefault(key, []).append(item.path)

    # --- waiting ------------------------------------------------------------------------------

    async def until(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            await asyncio.sleep(0.001)

    def _lanes_arrived(self, job_id: str) -> int:
        return sum(isinstance(e, LaneFinished) for _, e in self.of(job_id))

    def of(self, job_id: str) -> list[tuple[float, Event]]:
        return [(t, e) for t, e in self.events if e.job_id == job_id]

    def final_of(self, job_id: str) -> tuple[float, Event] | None:
        return next(((t, e) for t, e in self.of(job_id) if isinstance(e, FINAL_EVENTS)), None)

    async def finish(self, job_id: str, *, idle: bool = True) -> tuple[float, Event]:
        """The job's final event and when it arrived; with `idle`, after the session is idle."""
        await self.until(lambda: self.final_of(job_id) is not None, f"the end of {job_id}")
        if idle:
            await self.until(lambda: not self.session.busy, "the session to be idle")
        found = self.final_of(job_id)
        assert found is not None
        return found

    # --- one case -----------------------------------------------------------------------------

    async def run(self, case: Case) -> CaseResult:
        phase = case.point.phase
        self.gate.arm(case.pause)
        if phase is Phase.loading:
            self.clear_models()
        if phase is Phase.saving:
            cancelled = await self._cancel_while_saving(case.victim)
        else:
            cancelled = await self._cancel_at_gate(case)
        _, final = await self.finish(case.victim.job_id, idle=case.blocker is None)
        problems = [] if case.blocker is None else await self._check_finished(case.blocker)
        problems += self._victim_problems(case, final, cancelled[0])
        return await self._result(case.point.label, case.victim, case.probe, cancelled, problems)

    async def _result(
        self, label: str, victim: Job, probe: Job, cancelled: Stamp, problems: list[str]
    ) -> CaseResult:
        """Run the probe, cancel it after its end, and time the victim's stop: wall clock
        (bounded by the longest step seen plus 2 s) and the engine thread's CPU time."""
        end, final = self.final_of(victim.job_id) or (0.0, None)
        latency = max(0.0, end - cancelled[0])
        cpu = max(0.0, self.final_cpu.get(victim.job_id, 0.0) - cancelled[1])
        self.session.submit(probe)
        problems += await self._check_finished(probe)
        problems += self._cancel_after_finish(probe)
        bound = self.max_step_s + IDLE_MARGIN_S
        if latency > bound:
            problems.append(f"the worker took {latency:.2f} s to stop (bound {bound:.2f} s)")
        return CaseResult(
            label=label,
            seed=seed_of(victim),
            final=type(final).__name__,
            latency_s=latency,
            engine_cpu_s=cpu,
            bound_s=bound,
            problems=problems,
        )

    async def run_after(self, victim: Job, probe: Job, delay_s: float) -> CaseResult:
        """Cancel `victim` `delay_s` after submitting it, wherever it is then (no gate): it may
        have finished already, and then its images must be saved and equal the reference."""
        self.gate.disarm()
        self.session.submit(victim)
        await asyncio.sleep(delay_s)
        finished_before = self.final_of(victim.job_id) is not None
        cancelled = stamp()
        self._cancel(victim.job_id)
        _, final = await self.finish(victim.job_id)
        problems = self._random_victim_problems(victim, final, finished_before)
        return await self._result("random time", victim, probe, cancelled, problems)

    def _random_victim_problems(self, victim: Job, final: Event, done: bool) -> list[str]:
        if done:
            self.expected_files += len(victim.lanes)
            return self._compare(victim) + self._gallery_problems()
        problems = []
        if not isinstance(final, JobCancelled | JobFinished) or getattr(final, "kept_partial", 0):
            problems.append(f"the victim ended {final!r}")
        if any(seed_of(victim) == seed for seed, _ in self.saved):
            problems.append("the cancelled victim has an image in the gallery")
        return problems + self._gallery_problems()

    def _cancel(self, job_id: str) -> None:
        """The queue's Remove, twice, then a direct engine cancel: the last two are no-ops."""
        self.session.queue.cancel(job_id)
        self.session.queue.cancel(job_id)
        self.host.cancel(job_id)

    async def _cancel_at_gate(self, case: Case) -> Stamp:
        if case.blocker is not None:
            self.session.submit(case.blocker)
        self.session.submit(case.victim)
        await self.until(self.gate.reached.is_set, f"the gate at {case.point.label}")
        # A LaneFinished sent just before the gate closed may still be on its way here; it
        # must not count as sent after the cancel.
        victim = case.victim.job_id
        sent = self.gate.lanes_sent.get(victim, 0)
        await self.until(lambda: self._lanes_arrived(victim) >= sent, "the lanes sent before")
        cancelled = stamp()
        self._cancel(case.victim.job_id)
        self.gate.release()
        return cancelled

    async def _cancel_while_saving(self, victim: Job) -> Stamp:
        stamps: list[Stamp] = []

        def cancel() -> None:
            stamps.append(stamp())
            self._cancel(victim.job_id)

        self.store.during_save = cancel
        self.session.submit(victim)
        await self.finish(victim.job_id)
        self.store.during_save = None
        if not stamps:
            raise RuntimeError("the victim was never saved")
        self.expected_files += len(victim.lanes)
        return stamps[0]

    def _victim_problems(self, case: Case, final: Event, cancelled_at: float) -> list[str]:
        phase = case.point.phase
        want = case.expected_final
        problems = []
        if not isinstance(final, want) or getattr(final, "kept_partial", False):
            problems.append(f"the victim ended {final!r}, not {want.__name__}")
        events = self.of(case.victim.job_id)
        if phase is Phase.queued and any(isinstance(e, JobStarted) for _, e in events):
            problems.append("a job cancelled while queued still started")
        late = [e for t, e in events if t > cancelled_at and isinstance(e, LaneFinished)]
        if late and phase is not Phase.saving:
            problems.append("the victim sent a LaneFinished after its cancel")
        if phase is Phase.saving:
            problems += self._compare(case.victim)
        elif any(seed_of(case.victim) == seed for seed, _ in self.saved):
            problems.append("the cancelled victim has an image in the gallery")
        return problems + self._gallery_problems()

    async def _check_finished(self, job: Job) -> list[str]:
        _, final = await self.finish(job.job_id)
        if not isinstance(final, JobFinished):
            return [f"{job.job_id} ended {final!r} instead of finishing"]
        self.expected_files += len(job.lanes)
        return self._compare(job) + self._gallery_problems()

    def _cancel_after_finish(self, job: Job) -> list[str]:
        count = len(self.events)
        self.session.queue.cancel(job.job_id)
        self.host.cancel(job.job_id)
        self.host.cancel(job.job_id, keep_partial=True)
        return [] if len(self.events) == count else ["a cancel after finish sent events"]

    # --- checks -------------------------------------------------------------------------------

    def _compare(self, job: Job) -> list[str]:
        """The job's images, as sent and as saved, against the fresh process's."""
        problems = []
        seed = seed_of(job)
        for lane, _ in job.lanes:
            want = self.references[image_key(job.job_id, lane.value)]
            sent = [e for _, e in self.of(job.job_id) if isinstance(e, LaneFinished)]
            got = [np.stack(e.images) for e in sent if e.lane is lane]
            if len(got) != 1 or not _same(got[0], want):
                problems.append(f"{lane.value} image of seed {seed} differs from the reference")
            files = self.saved.get((seed, lane.value), [])
            pixels = [np.asarray(Image.open(path).convert("RGB")) for path in files]
            if len(pixels) != 1 or not _same(pixels[0][None], want):
                problems.append(f"saved {lane.value} image of seed {seed} is not the reference")
        return problems

    def _gallery_problems(self) -> list[str]:
        """Only whole final images: one per lane of each finished job, no temp files."""
        folder = self.store.folder
        names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        problems = [f"a temporary file is left in the gallery: {n}" for n in names if n[0] == "."]
        pngs = [folder / n for n in names if n.endswith(".png")]
        for path in pngs:
            item = read_item(path)
            if item is None or "Partial" in item.parameters:
                problems.append(f"a partial or unreadable image was saved: {path.name}")
        if len(pngs) != self.expected_files:
            problems.append(f"the gallery holds {len(pngs)} images, not {self.expected_files}")
        return problems

    def stream_problems(self) -> list[str]:
        """Over the whole run: every job has exactly one final event, and nothing after it."""
        by_job: dict[str, list[Event]] = {}
        for _, event in self.events:
            if event.job_id:
                by_job.setdefault(event.job_id, []).append(event)
        problems = []
        for job_id, events in by_job.items():
            finals = [i for i, e in enumerate(events) if isinstance(e, FINAL_EVENTS)]
            if len(finals) != 1:
                problems.append(f"{job_id} has {len(finals)} final events")
            elif finals[0] != len(events) - 1:
                problems.append(f"{job_id} sent events after its final one")
        return problems


def _same(got: np.ndarray, want: np.ndarray) -> bool:
    return got.shape == want.shape and bool(np.array_equal(got, want))


def standard_points(*lane_steps: int) -> list[Point]:
    """Every phase of the issue: queued, loading, encoding, the first, middle and last step,
    decoding, finishing and saving; the lane-bound ones in each lane (of these step counts)."""
    points = [Point(phase=Phase.queued), Point(phase=Phase.loading)]
    for lane, steps in enumerate(lane_steps):
        points += [
            Point(phase=Phase.encoding, lane=lane),
            *(Point(phase=Phase.step, step=s, lane=lane) for s in (1, (steps + 1) // 2, steps)),
            Point(phase=Phase.decoding, lane=lane),
            Point(phase=Phase.finishing, lane=lane),
        ]
    return [*points, Point(phase=Phase.saving)]


def make_case(point: Point, make_job: Callable[[int], Job], seeds: Iterator[int]) -> Case:
    """A case whose jobs come from `make_job(seed)`, each with the next seed."""
    blocker = make_job(next(seeds)) if point.phase is Phase.queued else None
    return Case(
        point=point, victim=make_job(next(seeds)), probe=make_job(next(seeds)), blocker=blocker
    )
