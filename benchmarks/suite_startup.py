"""Suite part 3: process start to window shown, and to the first student image, on the
window's engine process and, beside it, the thread engine.

Window shown: benchmarks.startup (spawn `python -m studio` with the start-up probe; the app
closes itself at its first paint; `studio window --thread-engine` for the thread engine).
First student image: benchmarks.first_image, which starts the same StudioApp and clicks
Generate the moment the window is shown; once with the default settings (compare mode: the
student lane runs first, then the teacher) and once with the student alone. Every run has
private HOME and XDG folders, shared by the runs of one row, so the warm-up run per engine
fills the fused-weights cache a returning user has; then the engines alternate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.options import PartOptions
from benchmarks.results import PartResult, Stat, Table, Target
from benchmarks.startup import one_run
from studio.core.models import EMBEDDED_STUDENT
from studio.core.settings import Settings, default_student, save_settings

WINDOW_TARGET_S = 1.5
IMAGE_TARGET_S = 3.0
PAIR_TARGET_S = 3.5
REGRESSION_S = 0.3
"""How much later than the thread engine's the engine process may report the first image."""
ENGINES = ("process", "thread")
WINDOW_COMMANDS = {
    "process": [sys.executable, "-m", "studio"],
    "thread": [sys.executable, "-m", "studio", "window", "--thread-engine"],
}
RUNS, QUICK_RUNS = 5, 1
IMAGE_RUNS, QUICK_IMAGE_RUNS = 3, 1
PLATFORM = os.environ.get("QT_QPA_PLATFORM", "offscreen")


def private_env(folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HOME": str(folder / "home"),
        "XDG_CONFIG_HOME": str(folder / "config"),
        "XDG_DATA_HOME": str(folder / "data"),
        "XDG_STATE_HOME": str(folder / "state"),
        "XDG_CACHE_HOME": str(folder / "cache"),
        "QT_QPA_PLATFORM": PLATFORM,
    }


def student_alone(folder: Path) -> None:
    settings = replace(
        Settings(), compare_mode=False, teacher_model=EMBEDDED_STUDENT, teacher=default_student()
    )
    save_settings(folder / "config" / "studio" / "settings.json", settings)


def image_run(folder: Path, engine: str) -> dict[str, float]:
    """One start to first image on `engine`; the probe's times made relative to the spawn."""
    probe = folder / "probe.json"
    probe.unlink(missing_ok=True)
    command = [sys.executable, "-m", "benchmarks.first_image", str(probe), "--engine", engine]
    started = time.time()
    subprocess.run(
        command, env=private_env(folder), check=True, timeout=300, stdout=subprocess.DEVNULL
    )
    times = json.loads(probe.read_text(encoding="utf-8"))
    return {k: (v - started if not k.endswith("_s") else v) for k, v in times.items()}


def image_runs(runs: int, alone: bool) -> dict[str, list[dict[str, float]]]:
    """Per engine, `runs` starts to the first image after one warm-up each, alternating."""
    out: dict[str, list[dict[str, float]]] = {engine: [] for engine in ENGINES}
    with tempfile.TemporaryDirectory(prefix="studio-first-image-") as tmp:
        folder = Path(tmp)
        if alone:
            student_alone(folder)
        for engine in ENGINES:
            image_run(folder, engine)
        for _ in range(runs):
            for engine in ENGINES:
                out[engine].append(image_run(folder, engine))
    return out


def window_runs(runs: int) -> dict[str, list[float]]:
    """Per engine, `runs` seconds from spawn to the first paint after one warm-up, alternating."""
    out: dict[str, list[float]] = {engine: [] for engine in ENGINES}
    with tempfile.TemporaryDirectory(prefix="studio-startup-") as tmp:
        for engine in ENGINES:
            one_run(Path(tmp), PLATFORM, WINDOW_COMMANDS[engine])
        for _ in range(runs):
            for engine in ENGINES:
                out[engine].append(one_run(Path(tmp), PLATFORM, WINDOW_COMMANDS[engine])[0])
    return out


def image_row(label: str, runs: list[dict[str, float]], lane: str) -> tuple[str, ...]:
    def stat(key: str) -> str:
        values = [r[key] for r in runs if key in r]
        return Stat.of(values).text(2) if values else "–"

    return (label, stat("shown"), stat(lane), stat(f"{lane}_total_s"))


def target(what: str, limit: float, stat: Stat, reason: str) -> Target:
    met = stat.median < limit
    return Target(
        what=what,
        limit=f"< {limit} s",
        value=f"{stat.median:.2f} s",
        met=met,
        reason="" if met else f"{stat.median - limit:.2f} s over: {reason}",
    )


def image_reason(runs: list[dict[str, float]], lane: str) -> str:
    def median(key: str) -> float:
        return Stat.of(r.get(key, 0.0) for r in runs).median

    shown, image, total = median("shown"), median(lane), median(f"{lane}_total_s")
    return (
        f"window shown at {shown:.2f} s; then {image - shown - total:.2f} s until the student "
        "lane began (the engine imports torch and loads the pair the settings name), and "
        f"the lane itself took {total:.2f} s"
    )


def regression(what: str, process: Stat, thread: Stat, runs: list[dict[str, float]]) -> Target:
    gap = process.median - thread.median
    met = gap <= REGRESSION_S
    return Target(
        what=f"spawn → first student image ({what}), engine process against the thread engine",
        limit=f"≤ +{REGRESSION_S} s",
        value=f"{gap:+.2f} s ({process.median:.2f} s against {thread.median:.2f} s)",
        met=met,
        reason=""
        if met
        else f"{gap - REGRESSION_S:.2f} s over; the engine process's run: "
        + image_reason(runs, "student" if what.startswith("default") else "teacher"),
    )


def run(options: PartOptions) -> PartResult:
    n, m = (QUICK_RUNS, QUICK_IMAGE_RUNS) if options.quick else (RUNS, IMAGE_RUNS)
    window = window_runs(n)
    shown = {engine: Stat.of(window[engine]) for engine in ENGINES}
    pair, alone = image_runs(m, alone=False), image_runs(m, alone=True)
    pair_stat = {e: Stat.of(r["student"] for r in pair[e]) for e in ENGINES}
    alone_stat = {e: Stat.of(r["teacher"] for r in alone[e]) for e in ENGINES}
    label = {"process": "engine process (default)", "thread": "thread engine"}
    image_rows = []
    for e in ENGINES:
        image_rows += [
            image_row(
                f"{label[e]}: default (compare: student, then teacher 25 steps)", pair[e], "student"
            ),
            image_row(f"{label[e]}: {EMBEDDED_STUDENT} alone", alone[e], "teacher"),
        ]
    tables = (
        Table(
            columns=("measure", "median s (IQR)", "target"),
            rows=(
                (
                    "spawn → window first painted, engine process (`python -m studio`)",
                    shown["process"].text(2),
                    f"< {WINDOW_TARGET_S} s",
                ),
                (
                    "spawn → window first painted, thread engine "
                    "(`python -m studio window --thread-engine`)",
                    shown["thread"].text(2),
                    "–",
                ),
            ),
        ),
        Table(
            columns=(
                "engine: settings (Generate clicked when shown); seconds, median (IQR)",
                "spawn → window shown",
                "spawn → student image",
                "student lane alone",
            ),
            rows=tuple(image_rows),
        ),
    )
    targets = (
        target(
            "spawn → window shown (engine process)",
            WINDOW_TARGET_S,
            shown["process"],
            "Python, PySide6 and the studio's modules load before the first paint, and the "
            "engine process is spawned before the window shows; the suite does not break that "
            "time down",
        ),
        target(
            "spawn → first student image (student alone, engine process)",
            IMAGE_TARGET_S,
            alone_stat["process"],
            image_reason(alone["process"], "teacher"),
        ),
        target(
            "spawn → first student image (default compare mode, engine process)",
            PAIR_TARGET_S,
            pair_stat["process"],
            image_reason(pair["process"], "student"),
        ),
        regression("student alone", alone_stat["process"], alone_stat["thread"], alone["process"]),
        regression(
            "default compare mode", pair_stat["process"], pair_stat["thread"], pair["process"]
        ),
    )
    method = (
        f"Window: `python -m studio` (the engine process, started at once) and `python -m studio "
        f"window --thread-engine`, alternating, {n} times each after one warm-up each, with "
        f"private HOME/XDG folders and the start-up probe (Qt platform {PLATFORM}); the app "
        f"closes at its first paint. First image: `python -m benchmarks.first_image --engine "
        f"process|thread` ({m} runs per engine and row after one warm-up each, the engines "
        "alternating) starts the same StudioApp, clicks Generate when the window is first "
        "painted, and stops at the student lane's image. The engine process imports torch in "
        "the child from the window's construction on; the thread engine imports it only after "
        "the window is shown."
    )
    raw = {"window_s": window, "pair_runs": pair, "alone_runs": alone}
    return PartResult(
        key="startup",
        title="3. Start-up",
        method=method,
        tables=tables,
        targets=targets,
        raw=raw,
    )
