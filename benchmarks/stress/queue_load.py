"""500 queued jobs with random cancels: each ends in exactly one final state, the UI responsive.

Starts the real window (offscreen) with the real view-models and the real engine (the embedded
teacher, DDIM trailing, `--steps` steps, CFG 1, 32x32, a preview every step; or, with
`--engine scripted`, the real EngineHost over a runner that only pretends to denoise), and
queues `--jobs` jobs through the window's Generate with the batch count at its maximum (100).
After each engine event the session handled, it may cancel, the ways a user can: Remove on a
queue panel row (selected first), cancel the running job, cancel a job twice, cancel a job that
already ended, or Stop the running one (keep its partial image). The engine's events are
counted per job on their way to the session.

Responsiveness: a 10 ms precise QTimer notes, per tick, how late it fired (wall clock) and how
much CPU time the UI thread spent since the previous tick. On a machine whose cores are taken
by other work the wall-clock lateness mostly measures the wait for a core; the UI thread's CPU
time between ticks is its own work, the stall a user would see on a free machine (GIL waits
not included). Each Generate call is timed both ways too.

Checks: every job has exactly one final event (finished, cancelled, failed) and no event after
it; none failed; the gallery holds one PNG per job that finished and was not discarded, plus one
per job stopped with its partial image kept; the queue and its panel end empty; no stretch of
UI-thread work between two ticks reached 100 ms. Prints the numbers; exits 1 when a check fails.

Run: `python -m benchmarks.stress.queue_load [--jobs 500] [--engine real|scripted]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import qasync
from PySide6.QtCore import QObject, QSettings, Qt, QTimer

from benchmarks.common import machine
from studio.app import EngineStartup, StudioApp, make_application
from studio.core.commands import Command
from studio.core.events import (
    FINAL_EVENTS,
    Event,
    JobCancelled,
    JobFailed,
    JobFinished,
    JobStarted,
    LaneFinished,
    StepProgress,
    Timings,
)
from studio.core.models import EMBEDDED_TEACHER
from studio.core.settings import MAX_BATCH_COUNT, LaneRecipe, SeedMode, Settings, save_settings
from studio.engine.cancel import Cancelled
from studio.worker.host import EngineHost, default_runner_factory

TICK_MS = 10
UI_WORK_LIMIT_MS = 100.0
SETTLE_S = 1.0


class TappedClient:
    """The engine client the session talks to, noting every event on its way (UI thread)."""

    def __init__(self, host: EngineHost) -> None:
        self.host = host
        self.events: list[Event] = []
        self.finals: dict[str, Event] = {}
        self.after_event: Callable[[], None] | None = None

    def send(self, command: Command) -> None:
        self.host.send(command)

    def close(self, timeout: float = 10.0) -> None:
        self.host.close(timeout)

    @property
    def alive(self) -> bool:
        return self.host.alive

    def revive(self) -> bool:
        return self.host.revive()

    def restart(self) -> bool:
        return self.host.restart()

    async def listen(self) -> AsyncIterator[Event]:
        async for event in self.host.listen():
            self.events.append(event)
            if isinstance(event, FINAL_EVENTS):
                self.finals.setdefault(event.job_id, event)
            yield event
            if self.after_event is not None:
                self.after_event()


class PretendRunner:
    """Denoises nothing: `steps` steps of `step_s` seconds, a preview offer and an image."""

    def __init__(self, step_s: float = 0.01) -> None:
        self.step_s = step_s

    def preload(self, ref: Any, sink: Any) -> None:
        """Every model is there already: nothing to load, nothing to say."""

    def run(self, job: Any, token: Any, sink: Any) -> Any:
        ((lane, spec),) = job.lanes
        total = spec.params.num_inference_steps
        for step in range(1, total + 1):
            time.sleep(self.step_s)
            if token.cancelled and not token.keep_partial:
                raise Cancelled()
            sink.emit(
                StepProgress(job_id=job.job_id, lane=lane, step=step, total=total, elapsed_s=0)
            )
            if token.keep_partial:
                break
        image = np.full((spec.params.height, spec.params.width, 3), 128, np.uint8)
        image.setflags(write=False)
        sink.emit(
            LaneFinished(
                job_id=job.job_id,
                lane=lane,
                images=(image,),
                params=spec.params,
                model=spec.model,
                timings=Timings(),
                steps=step,
                partial=token.keep_partial,
            )
        )
        return type("Outcome", (), {"stopped": token.keep_partial})()


class TickRecorder(QObject):
    """A 10 ms precise timer. While `recording`, each tick notes how late it fired (wall clock)
    and how much CPU time the UI thread used since the previous tick: on a CPU shared with
    other work the first grows with the wait for a core, the second is the UI's own work."""

    def __init__(self) -> None:
        super().__init__()
        self.lateness_ms: list[float] = []
        self.busy_ms: list[float] = []
        self.at_s: list[float] = []
        self.recording = False
        self._last = time.perf_counter()
        self._last_cpu = time.thread_time()
        self._timer = QTimer(self, interval=TICK_MS, timerType=Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        if self.recording:
            self.lateness_ms.append(max(0.0, (now - self._last) * 1000 - TICK_MS))
            self.busy_ms.append((cpu - self._last_cpu) * 1000)
            self.at_s.append(now)
        self._last, self._last_cpu = now, cpu


class Chaos:
    """After each engine event the session handled, maybe cancels something, the ways a user
    can: Remove on a queue row, cancel the running job, cancel twice, cancel a job that ended,
    or Stop (keep the partial image). Tied to events, not to a timer, so a slow machine sees
    as many cancels as a fast one."""

    def __init__(self, studio: StudioApp, client: TappedClient, rng: random.Random) -> None:
        self.studio, self.client, self.rng = studio, client, rng
        self.actions: Counter[str] = Counter()
        self.discarded: set[str] = set()
        self.stopped: set[str] = set()

    def act(self) -> None:
        roll = self.rng.random()
        queue = self.studio.session.queue
        if roll < 0.05 and queue.count:
            self._remove_row()
        elif roll < 0.062 and queue.running is not None:
            self._discard("cancel running", queue.running.job_id)
        elif roll < 0.072 and queue.pending:
            job_id = self.rng.choice(queue.pending).job_id
            self._discard("double cancel", job_id)
            queue.cancel(job_id)
        elif roll < 0.082 and self.client.finals:
            self._discard("cancel after end", self.rng.choice(list(self.client.finals)))
        elif roll < 0.088 and queue.running is not None:
            self._stop(queue.running.job_id)

    def _remove_row(self) -> None:
        panel = self.studio.window.queue_panel
        if not panel.list.count():
            return
        row = self.rng.randrange(panel.list.count())
        panel.list.setCurrentRow(row)
        job_id = panel.selected_job_id()
        if not job_id:
            return
        self._note("remove via panel", job_id)
        panel.remove_selected()

    def _discard(self, action: str, job_id: str) -> None:
        self._note(action, job_id)
        self.studio.session.queue.cancel(job_id)

    def _stop(self, job_id: str) -> None:
        if job_id not in self.discarded and job_id not in self.client.finals:
            self.stopped.add(job_id)
        self.actions["stop (keep partial)"] += 1
        self.studio.session.stop()

    def _note(self, action: str, job_id: str) -> None:
        self.actions[action] += 1
        if job_id not in self.client.finals:
            self.discarded.add(job_id)


def write_settings(folder: Path, steps: int) -> Path:
    recipe = LaneRecipe(sampler="DDIM trailing", num_inference_steps=steps, guidance_scale=1.0)
    settings = replace(
        Settings(),
        teacher=recipe,
        teacher_model=EMBEDDED_TEACHER,
        compare_mode=False,
        batch_count=MAX_BATCH_COUNT,
        seed_mode=SeedMode.increment,
    )
    return save_settings(folder / "settings.json", settings)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadConfig:
    """One load run: how many jobs, which engine, how the batches are spaced."""

    jobs: int = 500
    steps: int = 2
    engine: str = "real"
    submit_gap_s: float = 0.5
    timeout_s: float = 3600.0
    rng: int = 2026


@dataclass(slots=True, kw_only=True)
class LoadFacts:
    """What a run showed, read before the window closed."""

    sent: list[str] = field(default_factory=list)
    generate_ms: list[float] = field(default_factory=list)
    generate_cpu_ms: list[float] = field(default_factory=list)
    lateness_ms: list[float] = field(default_factory=list)
    busy_ms: list[float] = field(default_factory=list)
    tick_at_s: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    chaos: Chaos | None = None
    panel_rows: int = 0
    queue_count: int = 0
    files: int = 0


def build_studio(folder: Path, config: LoadConfig) -> tuple[StudioApp, TappedClient]:
    """The studio over a tapped EngineHost: the default runner, or a pretend one."""
    build = default_runner_factory if config.engine == "real" else PretendRunner
    startup = EngineStartup(build)
    client = TappedClient(EngineHost(runner_factory=startup.runner_factory))
    studio = StudioApp(
        settings_path=write_settings(folder, config.steps),
        gallery_dir=folder / "gallery",
        geometry=QSettings(str(folder / "geometry.ini"), QSettings.Format.IniFormat),
        client=client,
        startup=startup,
    )
    return studio, client


async def until(ready: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def drive(studio: StudioApp, client: TappedClient, config: LoadConfig) -> LoadFacts:
    """Run the studio, queue the jobs under random cancels, wait for all, close the window."""
    running = asyncio.ensure_future(studio.run())
    window = studio.window
    await until(window.isVisible, "the window", 60)
    ready = "Ready" if config.engine == "real" else "Engine ready"
    await until(lambda: window.status_line.text().startswith(ready), "the engine", 900)
    await asyncio.sleep(SETTLE_S)
    ticks, chaos = TickRecorder(), Chaos(studio, client, random.Random(config.rng))
    facts = LoadFacts(chaos=chaos)
    ticks.recording = True
    client.after_event = chaos.act
    started = time.perf_counter()
    while len(facts.sent) < config.jobs:
        studio.session.batch_count = min(MAX_BATCH_COUNT, config.jobs - len(facts.sent))
        begin, begin_cpu = time.perf_counter(), time.thread_time()
        facts.sent += window.generate()
        facts.generate_ms.append((time.perf_counter() - begin) * 1000)
        facts.generate_cpu_ms.append((time.thread_time() - begin_cpu) * 1000)
        await asyncio.sleep(config.submit_gap_s)
    ended = lambda: all(j in client.finals for j in facts.sent)  # noqa: E731
    await until(ended, "every job to end", config.timeout_s)
    await until(lambda: not studio.session.busy, "the session to be idle", 60)
    facts.elapsed_s = time.perf_counter() - started
    client.after_event = None
    ticks.recording = False
    facts.lateness_ms, facts.busy_ms = ticks.lateness_ms, ticks.busy_ms
    facts.tick_at_s = [t - started for t in ticks.at_s]
    # The panel drops a row when its job's final event reaches the UI thread; on a loaded
    # machine that can trail the session going idle. Ten seconds for it, then what is there counts.
    with contextlib.suppress(TimeoutError):
        await until(lambda: window.queue_panel.list.count() == 0, "the queue panel", 10)
    facts.panel_rows = window.queue_panel.list.count()
    facts.queue_count = studio.session.queue.count
    facts.files = len(list(Path(studio.session.gallery.store.folder).glob("*.png")))
    window.close()
    await asyncio.wait_for(running, timeout=60)
    return facts


def final_kinds(client: TappedClient, facts: LoadFacts) -> Counter[str]:
    sent = set(facts.sent)
    return Counter(
        "JobCancelled, partial kept" if getattr(e, "kept_partial", False) else type(e).__name__
        for job_id, e in client.finals.items()
        if job_id in sent
    )


def check(client: TappedClient, facts: LoadFacts) -> list[str]:
    """Exactly one final event per job and nothing after it; the gallery and queue as due."""
    assert facts.chaos is not None
    by_job: dict[str, list[Event]] = {job_id: [] for job_id in facts.sent}
    for event in client.events:
        if event.job_id in by_job:
            by_job[event.job_id].append(event)
    problems = []
    for job_id, events in by_job.items():
        finals = [i for i, e in enumerate(events) if isinstance(e, FINAL_EVENTS)]
        if len(finals) != 1:
            problems.append(f"{job_id}: {len(finals)} final events")
        elif finals[0] != len(events) - 1:
            problems.append(f"{job_id}: events after its final one")
    due = sum(1 for job_id in facts.sent if _saves(facts.chaos, job_id, client.finals.get(job_id)))
    if facts.files != due:
        problems.append(f"the gallery holds {facts.files} PNGs, expected {due}")
    if facts.queue_count or facts.panel_rows:
        problems.append(f"the queue still lists {facts.queue_count} jobs")
    failed = sum(1 for j in facts.sent if isinstance(client.finals.get(j), JobFailed))
    if failed:
        problems.append(f"{failed} jobs failed")
    return problems


def _saves(chaos: Chaos, job_id: str, final: Event | None) -> bool:
    """Whether the session saves the job's image: it finished, or was stopped with its partial
    image kept, and was not discarded before its end."""
    if final is None or job_id in chaos.discarded:
        return False
    kept = isinstance(final, JobCancelled) and final.kept_partial and job_id in chaos.stopped
    return isinstance(final, JobFinished) or kept


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def stats(values: list[float]) -> str:
    if not values:
        return "no samples"
    return (
        f"p50 {statistics.median(values):.1f}, p99 {percentile(values, 0.99):.1f}, "
        f"max {max(values):.1f} ms"
    )


def report(client: TappedClient, facts: LoadFacts, config: LoadConfig) -> list[str]:
    assert facts.chaos is not None
    started = {e.job_id for e in client.events if isinstance(e, JobStarted)}
    never = sum(1 for j in facts.sent if j not in started)
    problems = check(client, facts)
    print(
        f"{len(facts.sent)} jobs ({config.engine} engine, {config.steps} steps) in "
        f"{facts.elapsed_s:.0f} s; final events: {dict(final_kinds(client, facts))}; "
        f"{never} never started; {facts.files} PNGs saved"
    )
    print(f"random actions: {dict(facts.chaos.actions)}")
    print(f"10 ms timer, {len(facts.lateness_ms)} ticks: lateness {stats(facts.lateness_ms)};")
    print(f"  UI-thread CPU between ticks {stats(facts.busy_ms)}")
    wall = [round(g) for g in facts.generate_ms]
    cpu = [round(g) for g in facts.generate_cpu_ms]
    print(f"each Generate call (up to 100 jobs): {wall} ms wall, {cpu} ms UI-thread CPU")
    worst = max(facts.busy_ms, default=0.0)
    if facts.busy_ms:
        at = facts.tick_at_s[facts.busy_ms.index(worst)]
        over = sum(b >= UI_WORK_LIMIT_MS / 2 for b in facts.busy_ms)
        print(f"  the longest at {at:.1f} s of {facts.elapsed_s:.0f} s; {over} ticks over 50 ms")
    if worst >= UI_WORK_LIMIT_MS:
        problems.append(f"the UI thread worked {worst:.0f} ms between two ticks")
    print("checks: " + ("all passed" if not problems else "; ".join(problems[:20])))
    print(machine())
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--engine", choices=("real", "scripted"), default="real")
    parser.add_argument("--submit-gap", type=float, default=0.5, help="seconds between batches")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--rng", type=int, default=2026)
    args = parser.parse_args()
    config = LoadConfig(
        jobs=args.jobs,
        steps=args.steps,
        engine=args.engine,
        submit_gap_s=args.submit_gap,
        timeout_s=args.timeout,
        rng=args.rng,
    )
    app = make_application()
    with tempfile.TemporaryDirectory() as tmp:
        studio, client = build_studio(Path(tmp), config)
        facts = qasync.run(drive(studio, client, config))
        problems = report(client, facts, config)
    del app
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
