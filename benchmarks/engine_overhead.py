"""Engine overhead: the studio's engine against a bare `pipe(...)` call on the same thread.

Same components, sampler, steps, seed and starting noise; previews off, every 4th step and
every step. All variants run on the engine's worker thread and are timed from submit to the
final event. With `process=True` the same jobs also run through the engine process
(`ProcessEngine(runner="benchmark")`): a bare `pipe(...)` job and the engine's jobs, all in
the child, timed from submit to the final event in this process, interleaved with the thread
engine's. Run: `python -m benchmarks.engine_overhead [--repeats N] [--markdown PATH]`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.common import Sample, interleaved, machine, publish
from studio.core.client import EngineClient
from studio.core.commands import Submit
from studio.core.events import FINAL_EVENTS, JobFinished
from studio.core.jobs import GenerateJob, LaneSpec, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams
from studio.engine.runner import Runner
from studio.worker.bench_runner import BARE_PREFIX, BenchmarkRunner
from studio.worker.host import EngineHost, default_runner_factory
from studio.worker.process_engine import ProcessEngine

PROCESS = "process: "
"""The prefix of the variants that run through the engine process."""


@dataclass(frozen=True)
class Case:
    """One model and recipe to measure."""

    label: str
    ref: ModelRef
    params: GenerationParams


def submit_and_wait(host: EngineClient, case: Case, every: int, bare: bool = False):
    async def follow(job):
        host.send(Submit(job=job))
        async for event in host.listen():
            if isinstance(event, FINAL_EVENTS) and event.job_id == job.job_id:
                return event

    def call():
        job = GenerateJob(
            lane=LaneSpec(model=case.ref, params=case.params), previews=PreviewOptions(every=every)
        )
        if bare:
            job = replace(job, job_id=BARE_PREFIX + job.job_id)
        final = asyncio.run(follow(job))
        if not isinstance(final, JobFinished):
            raise RuntimeError(f"benchmark job ended with {final}")

    return call


def measure(
    case: Case,
    repeats: int,
    runner_factory: Callable[[], Runner] = default_runner_factory,
    warmup: int = 1,
    process: bool = False,
) -> dict[str, Sample]:
    """Interleaved timings of the variants; with `process`, also through the engine process."""
    host = EngineHost(runner_factory=lambda: BenchmarkRunner(runner_factory()))
    child = ProcessEngine(runner="benchmark") if process else None
    try:
        variants = {
            "bare pipe(...)": submit_and_wait(host, case, 0, bare=True),
            "engine, previews off": submit_and_wait(host, case, 0),
            "engine, previews every 4th step": submit_and_wait(host, case, 4),
            "engine, previews every step": submit_and_wait(host, case, 1),
        }
        if child is not None:
            variants |= {
                PROCESS + "bare pipe(...) in the child": submit_and_wait(child, case, 0, True),
                PROCESS + "engine, previews off": submit_and_wait(child, case, 0),
                PROCESS + "engine, previews every step": submit_and_wait(child, case, 1),
            }
        return interleaved(variants, repeats=repeats, warmup=warmup)
    finally:
        host.close()
        if child is not None:
            child.close()


def cases() -> list[Case]:
    from studio.core.paths import embedded_model_dir
    from tests.engine.tiny import save_tiny_sd_pipeline

    out = []
    teacher = embedded_model_dir("emoji-teacher")
    if (teacher / "model_index.json").exists():
        out.append(
            Case(
                "embedded emoji teacher, 32x32, DPM++ 2M, 25 steps, CFG 3",
                ModelRef.embedded("emoji-teacher"),
                GenerationParams(
                    prompt="grinning face",
                    sampler="DPM++ 2M",
                    num_inference_steps=25,
                    guidance_scale=3.0,
                    seed=1,
                    width=32,
                    height=32,
                ),
            )
        )
    tiny = save_tiny_sd_pipeline(Path("/tmp/studio-bench/tiny-sd"))
    out.append(
        Case(
            "tiny SD pipeline, 128x128, Euler, 25 steps, CFG 5",
            ModelRef(location=str(tiny), source=ModelSource.folder),
            GenerationParams(
                prompt="a red cube",
                sampler="Euler",
                num_inference_steps=25,
                guidance_scale=5.0,
                seed=1,
                width=128,
                height=128,
            ),
        )
    )
    return out


def base_of(name: str) -> str:
    """The bare variant a variant is compared with: the one on its side of the process boundary."""
    return PROCESS + "bare pipe(...) in the child" if name.startswith(PROCESS) else "bare pipe(...)"


def table(case: Case, samples: dict[str, Sample]) -> list[str]:
    rows = [
        f"**{case.label}**",
        "",
        "| variant | median s | spread | ratio to bare |",
        "|---|---|---|---|",
    ]
    for name, s in samples.items():
        base = samples[base_of(name)].median
        rows.append(f"| {name} | {s.median:.4f} | ±{s.spread:.1%} | {s.median / base:.3f} |")
    return [*rows, ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args(argv)
    lines = [f"Machine: {machine()}", ""]
    for case in cases():
        lines += table(case, measure(case, args.repeats))
    text = "\n".join(lines)
    publish(text, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
