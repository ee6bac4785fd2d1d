"""UI responsiveness while both lanes generate: a 10 ms timer's lateness, and preview latency.

Starts the real window (offscreen by default) with the real engine on the embedded teacher in
both lanes (teacher 25 steps DPM++ 2M CFG 3, the other lane 4 steps DDIM trailing CFG 1, a
preview every step), runs one warm-up comparison and then N measured ones. Meanwhile a 10 ms
precise QTimer records how late each tick fires, and each preview is timed from the end of
its step on the engine thread to the Paint event of its pane on the UI thread.
Run: `python -m benchmarks.ui_responsiveness [--comparisons N]`.
"""

from __future__ import annotations

import argparse
import asyncio
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
from studio.app import EngineStartup, StudioApp, make_application
from studio.core.jobs import Lane
from studio.core.models import EMBEDDED_TEACHER
from studio.core.settings import LaneRecipe, Settings, save_settings
from studio.worker.host import default_runner_factory

TICK_MS = 10
TEACHER = LaneRecipe(sampler="DPM++ 2M", num_inference_steps=25, guidance_scale=3.0)
STUDENT = LaneRecipe(sampler="DDIM trailing", num_inference_steps=4, guidance_scale=1.0)
Key = tuple[str, str, int]
STARTING, GENERATING = "starting", "generating"


class StampingSink:
    """Passes events on, noting when each step's preview was offered (the step's end)."""

    def __init__(self, sink: Any, stamps: dict[Key, float]) -> None:
        self._sink, self._stamps = sink, stamps

    def emit(self, event: Any) -> None:
        self._sink.emit(event)

    def offer_preview(self, lane: Lane, make: Callable[[], Any]) -> bool:
        ended = time.perf_counter()

        def stamped() -> Any:
            preview = make()
            self._stamps[(preview.job_id, preview.lane.value, preview.step)] = ended
            return preview

        return self._sink.offer_preview(lane, stamped)


def stamping_runner(stamps: dict[Key, float]) -> Any:
    runner = default_runner_factory()
    run = runner.run
    runner.run = lambda job, token, sink: run(job, token, StampingSink(sink, stamps))
    return runner


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
    """Times each preview from its step's end to the first Paint of its pane afterwards."""

    def __init__(self, studio: StudioApp, stamps: dict[Key, float]) -> None:
        super().__init__()
        self.latency_ms: list[float] = []
        self.recording = False
        self._stamps = stamps
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
            ended = self._stamps.get(key)
            if self.recording and ended is not None:
                self.latency_ms.append((time.perf_counter() - ended) * 1000)
        return False


def write_settings(folder: Path) -> Path:
    settings = replace(
        Settings(),
        teacher=TEACHER,
        student=STUDENT,
        teacher_model=EMBEDDED_TEACHER,
        student_model=EMBEDDED_TEACHER,
    )
    return save_settings(folder / "settings.json", settings)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comparisons", type=int, default=5)
    args = parser.parse_args()
    app = make_application()
    stamps: dict[Key, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        studio = StudioApp(
            settings_path=write_settings(folder),
            gallery_dir=folder / "gallery",
            geometry=QSettings(str(folder / "geometry.ini"), QSettings.Format.IniFormat),
            startup=EngineStartup(lambda: stamping_runner(stamps)),
        )
        ticks, paints = TickRecorder(), PaintRecorder(studio, stamps)
        elapsed = qasync.run(measure(studio, ticks, paints, args.comparisons))
    del app
    print(report(ticks.lateness_ms, paints.latency_ms, args.comparisons, elapsed))


if __name__ == "__main__":
    main()
