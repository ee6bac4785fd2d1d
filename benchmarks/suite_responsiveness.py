"""Suite part 2: the UI event loop's lateness while the engine starts and while both lanes
generate, and preview latency, on the window's engine process (and the thread engine beside it).

Uses benchmarks.ui_responsiveness, each run in a fresh process (so every run's engine imports
torch and loads the model anew, and the thread engine's import is the window process's own):
the real window (offscreen Qt unless QT_QPA_PLATFORM says otherwise), a 10 ms precise timer's
lateness, and each preview timed from its step's end in the engine to the first paint of its
pane. Runs alternate: engine process, thread engine, engine process.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.options import PartOptions
from benchmarks.results import PartResult, Table, Target
from benchmarks.ui_responsiveness import GENERATING, STARTING, percentile

LATENESS_MAX_MS = 50.0
PREVIEW_P99_MS = 20.0
PROCESS_RUNS = 2
COMPARISONS, QUICK_COMPARISONS = 5, 1
"""Measured comparisons per engine-process run (two runs)."""
THREAD_COMPARISONS, QUICK_THREAD_COMPARISONS = 3, 1
PROCESS, THREAD = "process", "thread"
SERIES = ("preview_ms", "preview_arrived_ms", "arrived_to_painted_ms")
"""Per painted preview: step end → painted; and, for the engine process, its two halves: step
end → frame read in the window's process, and from there → painted."""


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": statistics.median(values),
        "p99": percentile(values, 0.99),
        "max": max(values),
    }


def one_run(engine: str, comparisons: int, folder: Path) -> dict[str, Any]:
    """`python -m benchmarks.ui_responsiveness` on `engine` in a fresh process; its results."""
    out = folder / f"{engine}-{len(list(folder.iterdir()))}.json"
    command = [sys.executable, "-m", "benchmarks.ui_responsiveness", "--engine", engine]
    command += ["--comparisons", str(comparisons), "--json", str(out)]
    subprocess.run(command, check=True, timeout=900, stdout=subprocess.DEVNULL)
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


def collect(comparisons: int, thread_comparisons: int) -> dict[str, dict[str, Any]]:
    """Per engine: the ticks' lateness per phase and the previews' latencies (runs pooled),
    the seconds the measured comparisons took, and how many."""
    pooled: dict[str, dict[str, Any]] = {}
    order = [PROCESS, THREAD, PROCESS]
    with tempfile.TemporaryDirectory(prefix="studio-responsiveness-") as tmp:
        for engine in order:
            n = comparisons if engine == PROCESS else thread_comparisons
            result = one_run(engine, n, Path(tmp))
            into = pooled.setdefault(engine, {"lateness_ms": {}, "elapsed_s": 0.0, "n": 0})
            for phase, values in result["lateness_ms"].items():
                into["lateness_ms"].setdefault(phase, []).extend(values)
            for key in SERIES:
                into.setdefault(key, []).extend(result.get(key, []))
            into["elapsed_s"] += result["elapsed_s"]
            into["n"] += result["comparisons"]
    return pooled


def row(name: str, values: list[float], target: str) -> tuple[str, ...]:
    s = summary(values)
    if not s["n"]:
        return (name, "0", "–", "–", "–", target)
    return (name, f"{s['n']}", f"{s['p50']:.1f}", f"{s['p99']:.1f}", f"{s['max']:.1f}", target)


def count_over(values: list[float], limit: float) -> str:
    return f"{sum(v >= limit for v in values)} of {len(values)}"


def targets(runs: dict[str, dict[str, Any]]) -> tuple[Target, ...]:
    ticks, previews = runs[PROCESS]["lateness_ms"], runs[PROCESS]["preview_ms"]
    starting, generating = ticks.get(STARTING, []), ticks.get(GENERATING, [])
    start, late, shown = summary(starting), summary(generating), summary(previews)
    start_max = start.get("max", float("inf"))
    late_max, shown_p99 = late.get("max", float("inf")), shown.get("p99", float("inf"))
    return (
        Target(
            what="10 ms timer lateness during torch import and the first model load, engine "
            "process, max",
            limit=f"< {LATENESS_MAX_MS:.0f} ms",
            value=f"{start_max:.1f} ms",
            met=start_max < LATENESS_MAX_MS,
            reason=f"{count_over(starting, LATENESS_MAX_MS)} ticks were "
            f"{LATENESS_MAX_MS:.0f} ms or more late (p99 {start.get('p99', 0.0):.1f} ms); the "
            "suite does not record what held the UI thread",
        ),
        Target(
            what="10 ms timer lateness while both lanes generate, engine process, max",
            limit=f"< {LATENESS_MAX_MS:.0f} ms",
            value=f"{late_max:.1f} ms",
            met=late_max < LATENESS_MAX_MS,
            reason=f"{count_over(generating, LATENESS_MAX_MS)} ticks were "
            f"{LATENESS_MAX_MS:.0f} ms or more late (p99 {late.get('p99', 0.0):.1f} ms); the "
            "suite does not record what held the UI thread",
        ),
        Target(
            what="step end → preview painted through the process boundary, p99",
            limit=f"< {PREVIEW_P99_MS:.0f} ms",
            value=f"{shown_p99:.1f} ms",
            met=shown_p99 < PREVIEW_P99_MS,
            reason="no preview was painted"
            if not previews
            else f"{count_over(previews, PREVIEW_P99_MS)} previews took "
            f"{PREVIEW_P99_MS:.0f} ms or more (p50 {shown['p50']:.1f} ms); the suite does not "
            "record where the time went",
        ),
    )


def engine_rows(label: str, run: dict[str, Any], targets: bool) -> tuple[tuple[str, ...], ...]:
    ticks = run["lateness_ms"]
    late, shown = ("max < 50", "p99 < 20") if targets else ("–", "–")
    rows = (
        row(
            f"{label}: 10 ms timer lateness, torch import + model load",
            ticks.get(STARTING, []),
            late,
        ),
        row(
            f"{label}: 10 ms timer lateness, both lanes generating", ticks.get(GENERATING, []), late
        ),
        row(f"{label}: step end → preview painted", run["preview_ms"], shown),
    )
    if run.get("preview_arrived_ms"):
        rows += (
            row(
                f"{label}: step end → preview frame read in the window's process",
                run["preview_arrived_ms"],
                "–",
            ),
            row(f"{label}: preview frame read → painted", run["arrived_to_painted_ms"], "–"),
        )
    return rows


def run(options: PartOptions) -> PartResult:
    quick = options.quick
    n = QUICK_COMPARISONS if quick else COMPARISONS
    n_thread = QUICK_THREAD_COMPARISONS if quick else THREAD_COMPARISONS
    runs = collect(n, n_thread)
    process, thread = runs[PROCESS], runs[THREAD]
    table = Table(
        columns=("measure (ms)", "samples", "p50", "p99", "max", "target"),
        rows=engine_rows("engine process", process, True)
        + engine_rows("thread engine (for contrast)", thread, False),
    )
    method = (
        f"The real window (Qt platform {os.environ.get('QT_QPA_PLATFORM', 'offscreen')}) and "
        "engine, the embedded teacher in both lanes (25 steps DPM++ 2M CFG 3 against 4 steps DDIM "
        "trailing CFG 1, 32x32, a preview every step), each run a fresh process "
        "(`python -m benchmarks.ui_responsiveness`): two runs on the engine process (the "
        f"window's default) of one warm-up comparison and {n} measured ones, with a run on the "
        f"thread engine ({n_thread} measured) between them; measured comparisons took "
        f"{process['elapsed_s']:.1f} s (process, both runs) and {thread['elapsed_s']:.1f} s "
        "(thread). A 10 ms precise QTimer records how late each tick fires, from the window's "
        "first show until the status line says the model is loaded (torch import + first model "
        "load) and during the measured comparisons. Each preview is timed from the end of its "
        "step to the first paint of its pane: the engine process runs the child's `benchmark` "
        "runner (studio/worker/bench_runner.py: the default runner, which stamps "
        "`time.perf_counter()` when a step's preview is offered, before it is rendered, into "
        "the file STUDIO_STAMPS_FILE names; CLOCK_MONOTONIC, the same clock in the window's "
        "process), so the time includes rendering, the wire frame, the pipe, decoding and "
        "painting; the thread engine stamps on its engine thread. For the engine process the "
        "latency is also split where the window's reader thread has read and decoded the "
        "preview's frame off the pipe. Previews never rendered (a lane waits for the window's "
        "credit) are not counted."
    )
    return PartResult(
        key="responsiveness",
        title="2. Responsiveness while the engine starts and both lanes generate",
        method=method,
        tables=(table,),
        targets=targets(runs),
        raw=runs,
    )
