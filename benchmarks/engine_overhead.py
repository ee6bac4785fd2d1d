"""Engine overhead: the studio's engine against a bare `pipe(...)` call on the same thread.

Same components, sampler, steps, seed and starting noise; previews off, every 4th step and
every step. All variants run on the engine's worker thread and are timed from submit to the
final event. Run: `python -m benchmarks.engine_overhead [--repeats N] [--markdown PATH]`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from benchmarks.common import Sample, interleaved, machine
from studio.core.events import FINAL_EVENTS, JobFinished
from studio.core.jobs import GenerateJob, LaneSpec, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams
from studio.engine.runner import Runner
from studio.engine.samplers import make_scheduler
from studio.engine.sampling import start_noise
from studio.engine.strategy import JobOutcome
from studio.worker.host import EngineHost, default_runner_factory


@dataclass(frozen=True)
class Case:
    """One model and recipe to measure."""

    label: str
    ref: ModelRef
    params: GenerationParams


class BenchRunner:
    """The real Runner, plus jobs whose id starts with "bare-" run as a bare `pipe(...)` call.

    Every variant then runs on the same engine thread and is timed the same way (submit to
    final event), so the only difference between them is the engine's own work per step.
    """

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.models = runner.models

    def run(self, job, token, sink):
        if not job.job_id.startswith("bare-"):
            return self.runner.run(job, token, sink)
        bare_pipe_call(self.runner, job.lane)
        return JobOutcome({}, stopped=False)


def bare_pipe_call(runner: Runner, lane: LaneSpec):
    loaded, _ = runner.models.get(lane.model)
    pipe, p = loaded.pipe, lane.params
    noise = start_noise(loaded, p)
    pipe.scheduler = make_scheduler(
        loaded.base_scheduler_config, p.sampler, p.schedule, loaded.kind
    )
    kwargs = dict(
        prompt=[p.prompt],
        num_inference_steps=p.num_inference_steps,
        guidance_scale=p.guidance_scale,
        height=p.height,
        width=p.width,
        generator=torch.Generator("cpu").manual_seed(p.seed),
        output_type="np",
    )
    if noise is not None:
        kwargs["latents"] = noise.to(loaded.device, loaded.dtype)
    return pipe(**kwargs).images


def submit_and_wait(host: EngineHost, case: Case, every: int, bare: bool = False):
    async def follow(job):
        host.submit(job)
        async for event in host.listen():
            if isinstance(event, FINAL_EVENTS) and event.job_id == job.job_id:
                return event

    def call():
        job = GenerateJob(
            lane=LaneSpec(model=case.ref, params=case.params), previews=PreviewOptions(every=every)
        )
        if bare:
            job = replace(job, job_id="bare-" + job.job_id)
        final = asyncio.run(follow(job))
        if not isinstance(final, JobFinished):
            raise RuntimeError(f"benchmark job ended with {final}")

    return call


def measure(
    case: Case,
    repeats: int,
    runner_factory: Callable[[], Runner] = default_runner_factory,
    warmup: int = 1,
) -> dict[str, Sample]:
    host = EngineHost(runner_factory=lambda: BenchRunner(runner_factory()))
    try:
        variants = {
            "bare pipe(...)": submit_and_wait(host, case, 0, bare=True),
            "engine, previews off": submit_and_wait(host, case, 0),
            "engine, previews every 4th step": submit_and_wait(host, case, 4),
            "engine, previews every step": submit_and_wait(host, case, 1),
        }
        return interleaved(variants, repeats=repeats, warmup=warmup)
    finally:
        host.close()


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


def table(case: Case, samples: dict[str, Sample]) -> list[str]:
    base = samples["bare pipe(...)"].median
    rows = [
        f"**{case.label}**",
        "",
        "| variant | median s | spread | ratio to bare |",
        "|---|---|---|---|",
    ]
    for name, s in samples.items():
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
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
