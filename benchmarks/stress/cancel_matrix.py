"""Cancel at every phase over many seeds, on a tiny Stable Diffusion pipeline and on the
embedded pair (emoji-teacher and emoji-student-4step in one comparison).

Each case runs through the real EngineHost, SessionViewModel and gallery (see
tests/worker/cancel_bench.py): the engine thread is paused at the phase by a gate (queued,
loading, encoding, first / middle / last step, decoding, finishing, saving; the lane-bound
phases in each lane of the comparison), the job is cancelled there twice through the queue and
once straight to the engine, and the next job's image must equal, bit for bit, the image a
fresh subprocess makes for the same parameters. Cases at random times (no gate) follow.
Prints a table per model and exits 1 if any case failed.

Run: `python -m benchmarks.stress.cancel_matrix [--seeds 5] [--random 20] [--models sd,emoji]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from benchmarks.common import machine
from studio.app import make_application
from studio.core.jobs import CompareJob, GenerateJob, Job, LaneSpec, PreviewOptions
from studio.core.models import EMBEDDED_STUDENT, EMBEDDED_TEACHER, ModelRef, ModelSource
from studio.core.params import MAX_SEED, GenerationParams
from studio.engine.loading import load_pipeline
from studio.engine.pipeline_loader import PipelineLoader
from studio.viewmodels.session import SessionViewModel
from studio.worker.host import EngineHost
from tests.engine.tiny import save_tiny_sd_pipeline
from tests.worker.cancel_bench import (
    CancelBench,
    Case,
    CaseResult,
    GatedStore,
    make_case,
    standard_points,
)
from tests.worker.phase_gate import GatedRunnerFactory, PhaseGate
from tests.worker.reference_images import references


@dataclass(frozen=True, slots=True)
class Subject:
    """One model setup: how to make its jobs, how to load it, how many lanes and steps."""

    name: str
    make_job: Callable[[int], Job]
    load: Callable[..., Any]
    lane_steps: tuple[int, ...]
    job_s: float


def tiny_sd(folder: Path) -> Subject:
    model = ModelRef(location=str(save_tiny_sd_pipeline(folder)), source=ModelSource.folder)

    def make(seed: int) -> Job:
        params = GenerationParams(
            prompt="a red cube",
            sampler="Euler",
            num_inference_steps=5,
            guidance_scale=2.0,
            seed=seed,
            width=64,
            height=64,
        )
        return GenerateJob(lane=LaneSpec(model=model, params=params), previews=PreviewOptions())

    return Subject("tiny SD 1.x (64x64, Euler 5 steps, CFG 2)", make, load_pipeline, (5,), 0.2)


def embedded_pair() -> Subject:
    def make(seed: int) -> Job:
        base = GenerationParams(prompt="grinning face", seed=seed, width=32, height=32)
        teacher = base.with_(sampler="DPM++ 2M", num_inference_steps=8, guidance_scale=3.0)
        student = base.with_(sampler="DDIM trailing", num_inference_steps=4, guidance_scale=1.0)
        return CompareJob(
            teacher=LaneSpec(model=ModelRef.embedded(EMBEDDED_TEACHER), params=teacher),
            student=LaneSpec(model=ModelRef.embedded(EMBEDDED_STUDENT), params=student),
            previews=PreviewOptions(),
        )

    name = "embedded pair (teacher DPM++ 2M 8 steps CFG 3, student-4step DDIM trailing 4)"
    return Subject(name, make, PipelineLoader(), (8, 4), 0.5)


def build_cases(subject: Subject, seeds_per_point: int, randoms: int, rng: random.Random):
    """The gated cases, and the (victim, probe, delay) of the random-time ones."""
    points = standard_points(*subject.lane_steps)
    seeds = iter(rng.sample(range(MAX_SEED), 4 * len(points) * seeds_per_point + 2 * randoms))
    gated = [make_case(p, subject.make_job, seeds) for p in points for _ in range(seeds_per_point)]
    timed = [
        (
            subject.make_job(next(seeds)),
            subject.make_job(next(seeds)),
            rng.uniform(0, subject.job_s),
        )
        for _ in range(randoms)
    ]
    return gated, timed


async def sweep(subject: Subject, gated: list[Case], timed, refs, gallery: Path):
    gate = PhaseGate()
    factory = GatedRunnerFactory(gate, subject.load)
    host = EngineHost(runner_factory=factory)
    store = GatedStore(gallery)
    session = SessionViewModel(host, store)
    bench = CancelBench(
        host=host,
        gate=gate,
        session=session,
        store=store,
        clear_models=factory.clear_models,
        references=refs,
    )
    results: list[CaseResult] = []
    async with bench:
        for case in gated:
            results.append(await bench.run(case))
        for victim, probe, delay in timed:
            results.append(await bench.run_after(victim, probe, delay))
    return results, bench.stream_problems()


def table(results: list[CaseResult]) -> list[str]:
    lines = [
        "| cancelled at | cases | final events | stop latency p50 / max (s) | bound (s) "
        "| engine CPU to stop p50 / max (s) | failed |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = list(dict.fromkeys(r.label for r in results))
    for label in labels:
        rows = [r for r in results if r.label == label]
        finals = ", ".join(
            f"{n} {name}"
            for name, n in sorted(
                {r.final: sum(x.final == r.final for x in rows) for r in rows}.items()
            )
        )
        latencies = [r.latency_s for r in rows]
        cpu = [r.engine_cpu_s for r in rows]
        lines.append(
            f"| {label} | {len(rows)} | {finals} | {statistics.median(latencies):.3f} / "
            f"{max(latencies):.3f} | {min(r.bound_s for r in rows):.2f} | "
            f"{statistics.median(cpu):.3f} / {max(cpu):.3f} | "
            f"{sum(bool(r.problems) for r in rows)} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="victims per gated point")
    parser.add_argument("--random", type=int, default=20, help="cases cancelled at random times")
    parser.add_argument("--models", default="sd,emoji")
    parser.add_argument("--rng", type=int, default=2026)
    args = parser.parse_args()
    make_application()
    rng = random.Random(args.rng)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        subjects = {"sd": lambda: tiny_sd(Path(tmp) / "tiny-sd"), "emoji": embedded_pair}
        for key in args.models.split(","):
            subject = subjects[key]()
            gated, timed = build_cases(subject, args.seeds, args.random, rng)
            jobs = [j for c in gated for j in c.reference_jobs()]
            jobs += [j for victim, probe, _ in timed for j in (victim, probe)]
            started = time.perf_counter()
            refs = references(jobs, timeout=3600)
            ref_s = time.perf_counter() - started
            started = time.perf_counter()
            gallery = Path(tmp) / f"gallery-{key}"
            results, stream = asyncio.run(sweep(subject, gated, timed, refs, gallery))
            elapsed = time.perf_counter() - started
            bad = [r for r in results if r.problems]
            failed += len(bad) + len(stream)
            print(
                f"\n{subject.name}: {len(results)} cases in {elapsed:.0f} s "
                f"({len(jobs)} reference images' jobs in a fresh process in {ref_s:.0f} s)"
            )
            print("\n".join(table(results)))
            print(f"event stream: {len(stream)} jobs without exactly one final event last")
            for result in bad[:20]:
                print(f"  FAILED {result.label} seed {result.seed}: {'; '.join(result.problems)}")
            for problem in stream[:20]:
                print(f"  FAILED stream: {problem}")
    print(f"\n{machine()}; {'all passed' if not failed else f'{failed} failures'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
