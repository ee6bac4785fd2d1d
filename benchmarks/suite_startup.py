"""Suite part 3: process start to window shown, and to the first student image.

Window shown: benchmarks.startup (spawn `python -m studio` with the start-up probe; the app
closes itself at its first paint). First student image: benchmarks.first_image, which starts
the same StudioApp and clicks Generate the moment the window is shown; once with the default
settings (compare mode: the teacher lane runs first, then the student) and once with the
4-step student alone. Every run has private HOME and XDG folders; one warm-up run each.
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
IMAGE_TARGET_S = 4.0
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


def image_run(folder: Path) -> dict[str, float]:
    """One start to first image; the probe's times made relative to the spawn."""
    probe = folder / "probe.json"
    probe.unlink(missing_ok=True)
    command = [sys.executable, "-m", "benchmarks.first_image", str(probe)]
    started = time.time()
    subprocess.run(
        command, env=private_env(folder), check=True, timeout=300, stdout=subprocess.DEVNULL
    )
    times = json.loads(probe.read_text(encoding="utf-8"))
    return {k: (v - started if not k.endswith("_s") else v) for k, v in times.items()}


def image_runs(runs: int, alone: bool) -> list[dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="studio-first-image-") as tmp:
        folder = Path(tmp)
        if alone:
            student_alone(folder)
        image_run(folder)
        return [image_run(folder) for _ in range(runs)]


def window_runs(runs: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="studio-startup-") as tmp:
        one_run(Path(tmp), PLATFORM)
        return [one_run(Path(tmp), PLATFORM)[0] for _ in range(runs)]


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
        "lane began (the engine imports torch, loads the pair the settings name, runs the "
        f"lanes before it), and the lane itself took {total:.2f} s"
    )


def run(options: PartOptions) -> PartResult:
    n, m = (QUICK_RUNS, QUICK_IMAGE_RUNS) if options.quick else (RUNS, IMAGE_RUNS)
    window = window_runs(n)
    shown = Stat.of(window)
    pair, alone = image_runs(m, alone=False), image_runs(m, alone=True)
    pair_stat = Stat.of(r["student"] for r in pair)
    alone_stat = Stat.of(r["teacher"] for r in alone)
    tables = (
        Table(
            columns=("measure", "median s (IQR)", "target"),
            rows=(("spawn → window first painted", shown.text(2), f"< {WINDOW_TARGET_S} s"),),
        ),
        Table(
            columns=(
                "settings (Generate clicked when shown); seconds, median (IQR)",
                "spawn → window shown",
                "spawn → student image",
                "student lane alone",
            ),
            rows=(
                image_row("default (compare: teacher 25 steps, then student)", pair, "student"),
                image_row(f"{EMBEDDED_STUDENT} alone", alone, "teacher"),
            ),
        ),
    )
    targets = (
        target(
            "spawn → window shown",
            WINDOW_TARGET_S,
            shown,
            "Python, PySide6 and the studio's modules load before the first paint; the suite "
            "does not break that time down",
        ),
        target(
            "spawn → first student image (student alone)",
            IMAGE_TARGET_S,
            alone_stat,
            image_reason(alone, "teacher"),
        ),
        target(
            "spawn → first student image (default compare mode)",
            IMAGE_TARGET_S,
            pair_stat,
            image_reason(pair, "student"),
        ),
    )
    method = (
        f"Window: `python -m studio` spawned {n} times after one warm-up with private "
        f"HOME/XDG folders and the start-up probe (Qt platform {PLATFORM}); the app closes at "
        f"its first paint. First image: `python -m benchmarks.first_image` ({m} runs after one "
        "warm-up per row) starts the same StudioApp, clicks Generate when the window is first "
        "painted, and stops at the student lane's image; the engine imports torch only after "
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
