"""Suite part 5: memory. RSS over many generations ("memory"), and over model switches
("switches"); two parts so that each starts in a fresh process.

Generations: benchmarks.stress.leaks (comparisons of the embedded pair through the real
EngineHost and SessionViewModel, every image saved as a PNG). Switches: benchmarks.model_switch
(the embedded teacher and a larger random SD-shaped pipeline alternate through the real engine
with a cache budget that holds one of them).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from benchmarks.options import PartOptions
from benchmarks.results import PartResult, Table, Target

GROWTH_LIMIT_MB = 100.0
SLOPE_LIMIT_MB = 1.0
GENERATIONS, QUICK_GENERATIONS = 200, 4
WARMUP, QUICK_WARMUP = 20, 1
SWITCHES, QUICK_SWITCHES = 20, 2
BUDGET_MB = 300


def rss_after(samples: list[float], counts: tuple[int, ...]) -> list[tuple[str, ...]]:
    return [(f"after {n} generation{'s' * (n > 1)}", f"{samples[n - 1]:.0f}") for n in counts]


def generations(options: PartOptions) -> PartResult:
    from benchmarks.stress.leaks import fit, measure
    from studio.app import make_application

    n = QUICK_GENERATIONS if options.quick else GENERATIONS
    warmup = QUICK_WARMUP if options.quick else WARMUP
    args = argparse.Namespace(
        generations=n, warmup=warmup, cancel_every=0, teacher_steps=4, student_steps=4, rng=2026
    )
    make_application()
    with tempfile.TemporaryDirectory(prefix="studio-memory-") as tmp:
        gens, facts = asyncio.run(measure(args, Path(tmp) / "gallery"))
    samples = gens.samples
    line = fit(samples, warmup)
    counts = tuple(sorted({1, min(100, n), n}))
    rows = [("before the engine started", f"{facts['start_mb']:.0f}"), *rss_after(samples, counts)]
    targets = (
        Target(
            what=f"RSS growth from generation {warmup + 1} to {n}",
            limit=f"< {GROWTH_LIMIT_MB:.0f} MB",
            value=f"{line.growth_mb:+.1f} MB",
            met=line.growth_mb < GROWTH_LIMIT_MB,
            reason="the stress bench (benchmarks.stress.leaks) names the object types that grew",
        ),
        Target(
            what="RSS slope after warm-up (least squares)",
            limit=f"< {SLOPE_LIMIT_MB:.0f} MB per generation",
            value=f"{line.slope_mb:+.3f} MB per generation",
            met=line.slope_mb < SLOPE_LIMIT_MB,
            reason="the stress bench (benchmarks.stress.leaks) names the object types that grew",
        ),
    )
    method = (
        f"{n} comparisons one after another (emoji-teacher DDIM trailing 4 steps CFG 3 against "
        "emoji-student-4step 4 steps CFG 1, 32x32, a preview every step, every image saved as a "
        "PNG) through the real EngineHost and SessionViewModel; RSS (psutil) after each; growth "
        f"and slope from a least-squares line after {warmup} warm-up generations "
        f"({facts['elapsed_s']:.0f} s). The limits are the stress benches' own."
    )
    return PartResult(
        key="memory",
        title="5a. Memory over generations",
        method=method,
        tables=(Table(columns=("RSS", "MB"), rows=tuple(rows)),),
        targets=targets,
        raw={"rss_mb": samples, "warmup": warmup, "start_mb": facts["start_mb"]},
    )


def switches(options: PartOptions) -> PartResult:
    from benchmarks import model_switch

    count = QUICK_SWITCHES if options.quick else SWITCHES
    with tempfile.TemporaryDirectory(prefix="studio-switch-") as tmp:
        folder = Path(tmp) / "sd-mid"
        command = [sys.executable, "-m", "benchmarks.model_switch", "--write-model", str(folder)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        baseline, rows = model_switch.measure(count, BUDGET_MB, "cpu", folder)
    first, last = rows[0], rows[-1]
    growth = last.rss_mb - first.rss_mb
    table_rows = (
        ("before any model (torch, diffusers imported)", "–", f"{baseline:.0f}"),
        ("after the first load", first.model, f"{first.rss_mb:.0f}"),
        (f"after {last.index} switches", last.model, f"{last.rss_mb:.0f}"),
        ("max over the run", "–", f"{max(r.rss_mb for r in rows):.0f}"),
    )
    met = abs(growth) <= GROWTH_LIMIT_MB and last.model == first.model
    target = Target(
        what=f"RSS after {last.index} switches against after the first load (same model)",
        limit=f"within {GROWTH_LIMIT_MB:.0f} MB",
        value=f"{growth:+.0f} MB",
        met=met,
        reason="an odd switch count ends on the other model" if last.model != first.model else "",
    )
    method = (
        f"Through the real engine (EngineHost, Runner, ModelCache, PipelineLoader) with a "
        f"{BUDGET_MB} MB cache budget that holds one model: the embedded teacher and an "
        "SD-1.x-shaped pipeline of random weights (about 232 MB) alternate, one 4-step 32x32 "
        f"image after each load, {count} switches; RSS from /proc/self/statm after each job."
    )
    return PartResult(
        key="switches",
        title="5b. Memory over model switches",
        method=method,
        tables=(Table(columns=("RSS", "model", "MB"), rows=table_rows),),
        targets=(target,),
        raw={"baseline_mb": baseline, "rows": [asdict(r) for r in rows]},
    )
