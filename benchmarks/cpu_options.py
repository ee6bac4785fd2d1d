"""CPU inference options on the embedded models (issue 20): threads, bf16 autocast,
channels_last and torch.compile, each against plain float32 on one thread.

Two jobs through the engine's Runner at 32x32, batch 1, previews off: the teacher's own recipe
(DPM++ 2M, 20 steps, CFG 3) and the 1-step student (its own sampler, 1 step, CFG 1). Every
option has its own Runner (so a converted or compiled UNet never serves another variant); the
variants run interleaved, round after round, and each is reported as its median time over the
reference's (plain float32, one thread) with its image against the reference's: identical
bytes, or the largest difference and the PSNR of the uint8 images. torch.compile's first
call (the compilation) is timed apart, before the rounds. Start with `OMP_NUM_THREADS=1`:
the thread variants set `torch.set_num_threads` for their own calls.
Run: `python -m benchmarks.cpu_options [--repeats N] [--no-compile] [--markdown PATH]`.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import Sample, interleaved, machine, publish
from studio.core.jobs import GenerateJob, LaneSpec, PreviewOptions
from studio.core.models import EMBEDDED_TEACHER, ModelRef
from studio.core.settings import SharedParams

PROMPT = "red heart, smileys & emotion, heart, noto style"
STUDENT = "emoji-student-1step"
REFERENCE = "float32, 1 thread"


@dataclass(frozen=True, slots=True)
class Option:
    """One way to run the engine: how its UNet is prepared once and what wraps each call."""

    name: str
    threads: int = 1
    autocast: bool = False
    channels_last: bool = False
    compile: bool = False


OPTIONS = (
    Option(REFERENCE),
    Option("float32, 2 threads", threads=2),
    Option("bf16 autocast", autocast=True),
    Option("channels_last", channels_last=True),
    Option("torch.compile (UNet forward)", compile=True),
)


class _Keep:
    """An event sink that keeps the last lane's images."""

    def __init__(self) -> None:
        self.images: tuple[np.ndarray, ...] = ()

    def emit(self, event: object) -> None:
        images = getattr(event, "images", None)
        if images is not None:
            self.images = images

    def offer_preview(self, lane: object, make: object) -> bool:
        return False


def jobs() -> dict[str, GenerateJob]:
    from studio.lab.eval_job import TEACHER_RECIPE, recipe_for

    found = {}
    for label, model, recipe in (
        ("teacher, DPM++ 2M, 20 steps, CFG 3", EMBEDDED_TEACHER, TEACHER_RECIPE),
        (
            "1-step student, 1 step, CFG 1",
            STUDENT,
            replace(recipe_for(STUDENT), num_inference_steps=1),
        ),
    ):
        params = recipe.params(SharedParams(prompt=PROMPT, seed=1, width=32, height=32))
        lane = LaneSpec(model=ModelRef.embedded(model), params=params)
        found[label] = GenerateJob(lane=lane, previews=PreviewOptions(every=0))
    return found


@contextlib.contextmanager
def wrapped(option: Option) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(option.threads)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=option.autocast)
    try:
        with autocast:
            yield
    finally:
        torch.set_num_threads(before)


def prepare(option: Option, unet: Any) -> None:
    import torch

    if option.channels_last:
        unet.to(memory_format=torch.channels_last)
    if option.compile:
        unet.forward = torch.compile(unet.forward)


class Lane:
    """One option's Runner and job: a call runs the job once and keeps its image."""

    def __init__(self, option: Option, job: GenerateJob, runner: Any) -> None:
        self.option, self.job, self.runner = option, job, runner
        self.sink = _Keep()

    def __call__(self) -> None:
        from studio.engine.cancel import CancelToken

        with wrapped(self.option):
            self.runner.run(self.job, CancelToken(), self.sink)


def runners(options: tuple[Option, ...], found: dict[str, GenerateJob]) -> dict[str, Any]:
    """One Runner per option, its models loaded and prepared."""
    from studio.engine.cancel import CancelToken
    from studio.engine.model_cache import ModelCache
    from studio.engine.runner import Runner

    made = {}
    for option in options:
        runner = Runner(ModelCache(capacity=2))
        for job in found.values():
            runner.run(job, CancelToken(), _Keep())  # loads (and fuses) before preparing
            loaded, _ = runner.models.get(job.lane.model)
            prepare(option, loaded.pipe.unet)
        made[option.name] = runner
    return made


def first_calls(lanes: dict[str, Lane]) -> dict[str, float]:
    """Seconds of each lane's first call (torch.compile compiles in it)."""
    seconds = {}
    for name, lane in lanes.items():
        start = time.perf_counter()
        lane()
        seconds[name] = time.perf_counter() - start
    return seconds


def compare(image: np.ndarray, reference: np.ndarray) -> str:
    from studio.core.metrics import psnr

    if np.array_equal(image, reference):
        return "identical"
    diff = int(np.abs(image.astype(np.int16) - reference.astype(np.int16)).max())
    return f"max diff {diff}/255, PSNR {psnr(image, reference):.1f} dB"


def measure(
    options: tuple[Option, ...], repeats: int
) -> list[tuple[str, dict[str, Sample], dict[str, float], dict[str, str]]]:
    found = jobs()
    made = runners(options, found)
    results = []
    for label, job in found.items():
        lanes = {o.name: Lane(o, job, made[o.name]) for o in options}
        first = first_calls(lanes)
        samples = interleaved(dict(lanes), repeats=repeats, warmup=1)
        reference = lanes[REFERENCE].sink.images[0]
        images = {name: compare(lane.sink.images[0], reference) for name, lane in lanes.items()}
        results.append((label, samples, first, images))
    return results


def table(
    label: str, samples: dict[str, Sample], first: dict[str, float], images: dict[str, str]
) -> list[str]:
    base = samples[REFERENCE].median
    rows = [
        f"**{label}, 32x32, batch 1**",
        "",
        "| option | median s | spread | time against float32, 1 thread | first call s | image |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in samples.items():
        rows.append(
            f"| {name} | {s.median:.4f} | ±{s.spread:.1%} | {s.median / base:.2f}x | "
            f"{first[name]:.2f} | {images[name]} |"
        )
    return [*rows, ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args(argv)
    options = tuple(o for o in OPTIONS if not (o.compile and args.no_compile))
    lines = [f"Machine: {machine()}", ""]
    for label, samples, first, images in measure(options, args.repeats):
        lines += table(label, samples, first, images)
    text = "\n".join(lines)
    publish(text, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
