"""Engine overhead: the studio's runner and worker against a bare `pipe(...)` call.

Same components, sampler, steps, seed and starting noise; previews off, every 4th step and
every step. Run: `python -m benchmarks.engine_overhead [--repeats N] [--markdown PATH]`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmarks.common import Sample, interleaved, machine
from studio.core.events import JobFinished
from studio.core.jobs import GenerateJob, LaneSpec, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams
from studio.engine.cancel import CancelToken
from studio.engine.model_cache import ModelCache
from studio.engine.runner import Runner, start_noise
from studio.engine.samplers import make_scheduler
from studio.worker.host import EngineHost


class NullSink:
    """Discards events; renders every preview it is offered (the worst case for the engine)."""

    def emit(self, event) -> None:
        pass

    def offer_preview(self, lane, make) -> bool:
        make()
        return True


@dataclass(frozen=True)
class Case:
    """One model and recipe to measure."""

    label: str
    ref: ModelRef
    params: GenerationParams


def bare_call(runner: Runner, case: Case):
    loaded, _ = runner.models.get(case.ref)
    pipe = loaded.pipe
    p = case.params
    noise = start_noise(loaded, p)

    def call():
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

    return call


def engine_call(runner: Runner, case: Case, every: int):
    def call():
        job = GenerateJob(
            lane=LaneSpec(model=case.ref, params=case.params), previews=PreviewOptions(every=every)
        )
        return runner.run(job, CancelToken(), NullSink())

    return call


def worker_call(host: EngineHost, case: Case, every: int):
    async def follow(job):
        host.submit(job)
        async for event in host.listen():
            if isinstance(event, JobFinished) and event.job_id == job.job_id:
                return

    def call():
        job = GenerateJob(
            lane=LaneSpec(model=case.ref, params=case.params), previews=PreviewOptions(every=every)
        )
        asyncio.run(follow(job))

    return call


def measure(case: Case, repeats: int) -> dict[str, Sample]:
    runner = Runner(ModelCache(capacity=1))
    host = EngineHost(runner_factory=lambda: runner)
    try:
        variants = {
            "bare pipe(...)": bare_call(runner, case),
            "runner, previews off": engine_call(runner, case, 0),
            "runner, previews every 4th step": engine_call(runner, case, 4),
            "runner, previews every step": engine_call(runner, case, 1),
            "worker, previews off": worker_call(host, case, 0),
            "worker, previews every step": worker_call(host, case, 1),
        }
        return interleaved(variants, repeats=repeats)
    finally:
        host.close()


def cases() -> list[Case]:
    from studio.paths import embedded_model_dir
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
