"""UI responsiveness while both lanes generate: a 10 ms timer's lateness, and preview latency.

Starts the real window (offscreen by default) with the real engine on the embedded teacher in
both lanes (teacher 25 steps DPM++ 2M CFG 3, the other lane 4 steps DDIM trailing CFG 1, a
preview every step), runs one warm-up comparison and then N measured ones. Meanwhile a 10 ms
precise QTimer records how late each tick fires, and each preview is timed from the end of
its step in the engine to the Paint event of its pane on the UI thread.

`--engine process` (the window's default) runs the engine process with the child's
`benchmark` runner (studio/worker/bench_runner.py), which writes each step end's
`perf_counter()` to the file STUDIO_STAMPS_FILE names (CLOCK_MONOTONIC on Linux, the same
clock in both processes); `--engine thread` stamps the step ends on the engine thread.
Run: `python -m benchmarks.ui_responsiveness [--engine process|thread] [--comparisons N]
[--json PATH]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer

from benchmarks.common import machine
from studio.app import EngineKind, EngineStartup, StudioApp, make_application
from studio.core.jobs import Lane
from studio.core.models import EMBEDDED_TEACHER
from studio.core.settings import LaneRecipe, Settings, save_settings
from studio.worker.bench_runner import STAMPS_ENV, BenchmarkRunner, read_stamps
from studio.worker.host import judged_runner
from studio.worker.process_engine import ProcessEngine

TICK_MS = 10
TEACHER = LaneRecipe(sampler="DPM++ 2M", num_inference_steps=25, guidance_scale=3.0)
STUDENT = LaneRecipe(sampler="DDIM trailing", num_inference_steps=4, guidance_scale=1.0)
Key = tuple[str, str, int]
STARTING, GENERATING = "starting", "generating"


def stamping_runner(stamps: dict[Key, float]) -> Any:
    """The thread engine's runner (judged, as the window's), stamping step ends into `stamps`."""

    def stamp(job_id: str, lane: str, step: int, ended: float) -> None:
        stamps[(job_id, lane, step)] = ended

    return BenchmarkRunner(judged_runner(), stamp)


class TickRecorder(QObject):
    """A 10 ms precise timer; records each tick's lateness under the current `phase` (if any)."""

    def __init__(self) -> None:
        super().__init__()
        self.lateness_ms: dict[str, list[float]] = {}
        self.phase = ""
        self._last = time.perf_counter()
        self._timer = QTimer(self, interval=TICK_MS, timerType=Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.phase:
            late = max(0.0, (now - self._last) * 1000 - TICK_MS)
            self.lateness_ms.setdefault(self.phase, []).append(late)
        self._last = now


class PaintRecorder(QObject):
    """Notes when each preview's pane is first painted after it was shown; `latency_ms` times
    them from their steps' ends (stamps taken in the engine, read afterwards)."""

    def __init__(self, studio: StudioApp) -> None:
        super().__init__()
        self.painted: list[tuple[Key, float]] = []
        self.recording = False
        self._pending: dict[QObject, Key] = {}
        comparison = studio.window.comparison
        for lane, view in (
            (studio.session.teacher, comparison.teacher_view),
            (studio.session.student, comparison.student_view),
        ):
            viewport = view.viewport()
            viewport.installEventFilter(self)
            lane.previewChanged.connect(lambda lane=lane, vp=viewport: self._shown(lane, vp))

    def _shown(self, lane: Any, viewport: QObject) -> None:
        if lane.running and lane.latest_step:
            self._pending[viewport] = (lane.job_id, lane.lane.value, lane.latest_step)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and watched in self._pending:
            key = self._pending.pop(watched)
            if self.recording:
                self.painted.append((key, time.perf_counter()))
        return False

    def latency_ms(self, stamps: dict[Key, float]) -> list[float]:
        return [(at - stamps[key]) * 1000 for key, at in self.painted if key in stamps]


def bench_settings() -> Settings:
    return replace(
        Settings(),
        teacher=TEACHER,
        student=STUDENT,
        teacher_model=EMBEDDED_TEACHER,
        student_model=EMBEDDED_TEACHER,
    )


def write_settings(folder: Path) -> Path:
    return save_settings(folder / "settings.json", bench_settings())


async def wait_idle(studio: StudioApp, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    await asyncio.sleep(0.05)
    while studio.session.busy:
        if time.monotonic() > deadline:
            raise TimeoutError("the comparison did not finish")
        await asyncio.sleep(0.01)


async def measure(studio: StudioApp, ticks: TickRecorder, paints: PaintRecorder, n: int) -> float:
    running = asyncio.ensure_future(studio.run())
    while not studio.window.isVisible():
        await asyncio.sleep(0.01)
    ticks.phase = STARTING
    while not studio.window.status_line.text().startswith("Ready"):
        await asyncio.sleep(0.01)
    ticks.phase = ""
    studio.window.generate()
    await wait_idle(studio)
    ticks.phase, paints.recording = GENERATING, True
    started = time.perf_counter()
    for _ in range(n):
        studio.window.generate()
        await wait_idle(studio)
    elapsed = time.perf_counter() - started
    ticks.phase, paints.recording = "", False
    studio.window.close()
    await asyncio.wait_for(running, timeout=30)
    return elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def row(name: str, values: list[float], target: str) -> str:
    if not values:
        return f"| {name} | 0 | – | – | – | {target} |"
    return (
        f"| {name} | {len(values)} | {statistics.median(values):.1f} | "
        f"{percentile(values, 0.99):.1f} | {max(values):.1f} | {target} |"
    )


def report(ticks: dict[str, list[float]], paints: list[float], n: int, elapsed: float) -> str:
    lines = [
        f"{n} comparisons (teacher 25 steps DPM++ 2M CFG 3 + 4 steps DDIM trailing CFG 1,"
        f" embedded teacher in both lanes, previews every step) in {elapsed:.1f} s;"
        f" {machine()}, Qt platform {os.environ['QT_QPA_PLATFORM']}.",
        "",
        "| measure (ms) | samples | p50 | p99 | max | target |",
        "|---|---|---|---|---|---|",
        row("10 ms timer lateness, both lanes generating", ticks.get(GENERATING, []), "max < 50"),
        row("10 ms timer lateness, torch import + model load", ticks.get(STARTING, []), "–"),
        row("step end → preview painted", paints, "< 20"),
    ]
    return "\n".join(lines)


def note_arrivals(client: ProcessEngine, arrived: dict[Key, float]) -> None:
    """Note when each preview frame reached this process (read and decoded off the pipe, on the
    engine's reader thread), to split the preview latency at the process boundary."""
    channel = client._channel
    offer = channel.offer_preview

    def noted(lane: Lane, make: Callable[[], Any]) -> bool:
        at = time.perf_counter()
        preview = make()
        arrived.setdefault((preview.job_id, preview.lane.value, preview.step), at)
        return offer(lane, lambda: preview)

    channel.offer_preview = noted  # type: ignore[method-assign]


def collect(engine: EngineKind, comparisons: int) -> dict[str, Any]:
    """One window run on `engine`: the ticks' lateness per phase, the previews' latencies, and
    the measured comparisons' seconds."""
    app = make_application()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        stamps: dict[Key, float] = {}
        stamps_file = folder / "stamps.txt"
        client, startup = None, None
        arrived: dict[Key, float] = {}
        if engine is EngineKind.process:
            os.environ[STAMPS_ENV] = str(stamps_file)
            client = ProcessEngine(runner="benchmark", options=bench_settings().engine)
            note_arrivals(client, arrived)
        else:
            startup = EngineStartup(lambda: stamping_runner(stamps))
        studio = StudioApp(
            settings_path=write_settings(folder),
            gallery_dir=folder / "gallery",
            geometry=QSettings(str(folder / "geometry.ini"), QSettings.Format.IniFormat),
            client=client,
            startup=startup,
        )
        ticks, paints = TickRecorder(), PaintRecorder(studio)
        elapsed = qasync.run(measure(studio, ticks, paints, comparisons))
        if engine is EngineKind.process:
            stamps = read_stamps(stamps_file)
    del app
    return {
        "engine": engine.value,
        "lateness_ms": ticks.lateness_ms,
        "preview_ms": paints.latency_ms(stamps),
        "preview_arrived_ms": [
            (arrived[key] - stamps[key]) * 1000
            for key, _ in paints.painted
            if key in stamps and key in arrived
        ],
        "arrived_to_painted_ms": [
            (at - arrived[key]) * 1000 for key, at in paints.painted if key in arrived
        ],
        "elapsed_s": elapsed,
        "comparisons": comparisons,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comparisons", type=int, default=5)
    parser.add_argument("--engine", choices=[k.value for k in EngineKind], default="process")
    parser.add_argument("--json", type=Path, default=None, help="write the raw results there")
    args = parser.parse_args()
    result = collect(EngineKind(args.engine), args.comparisons)
    if args.json:
        args.json.write_text(json.dumps(result), encoding="utf-8")
    ticks, previews = result["lateness_ms"], result["preview_ms"]
    print(f"engine: {args.engine}")
    print(report(ticks, previews, args.comparisons, result["elapsed_s"]))


if __name__ == "__main__":
    main()
