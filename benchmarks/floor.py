"""Speed at the floor (issue 20): a student image through the engine's Runner against one bare
UNet evaluation at batch 1, the floor no sampler can beat.

The student (by default the embedded 1-step student, its own sampler and CFG) runs 1, 2 and 4
steps through `Runner.run` (previews off, events dropped), and its fused UNet runs alone once
per round on the same prompt's encodings and a start latent of the same shape; all variants
interleaved, medians over the rounds. Where the Runner takes a prompt-encoding cache, the
1-step image also runs through a Runner without one (every call encodes its prompt), so the
per-call overhead is shown with and without the text encoder. Measure with
`OMP_NUM_THREADS=1` on a quiet machine; on a noisy one only the ratios mean anything.
Run: `python -m benchmarks.floor [--student NAME] [--repeats N] [--markdown PATH]`.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import Sample, interleaved, machine, publish
from studio.core.jobs import GenerateJob, LaneSpec, PreviewOptions
from studio.core.models import ModelRef
from studio.core.params import GenerationParams

PROMPT = "red heart, smileys & emotion, heart, noto style"
STEPS = (1, 2, 4)
FLOOR = "one UNet evaluation, batch 1"
UNCACHED = "1 step, Runner without the prompt cache"
TARGET = 1.3


class _Drop:
    """An event sink that keeps nothing."""

    def emit(self, event: object) -> None:
        pass

    def offer_preview(self, lane: object, make: object) -> bool:
        return False


def student_job(name: str, steps: int) -> GenerateJob:
    from studio.lab.eval_job import recipe_for

    recipe = recipe_for(name)
    params = GenerationParams(
        prompt=PROMPT,
        sampler=recipe.sampler,
        num_inference_steps=steps,
        guidance_scale=recipe.guidance_scale,
        eta=recipe.eta,
        seed=1,
        width=32,
        height=32,
    )
    lane = LaneSpec(model=ModelRef.embedded(name), params=params)
    return GenerateJob(lane=lane, previews=PreviewOptions(every=0))


def make_runner() -> Any:
    from studio.engine.model_cache import ModelCache
    from studio.engine.runner import Runner

    return Runner(ModelCache(capacity=2))


def uncached_runner() -> Any | None:
    """A Runner without its prompt-encoding cache, or None when Runners have no such cache."""
    from studio.engine.model_cache import ModelCache
    from studio.engine.runner import Runner

    if "prompt_cache" not in inspect.signature(Runner).parameters:
        return None
    from studio.engine.prompt_cache import PromptCache

    return Runner(ModelCache(capacity=2), prompt_cache=PromptCache(capacity=0))


def job_call(runner: Any, job: GenerateJob) -> Callable[[], object]:
    from studio.engine.cancel import CancelToken

    return lambda: runner.run(job, CancelToken(), _Drop())


def unet_call(runner: Any, name: str) -> Callable[[], object]:
    """One bare forward of the student's UNet on the prompt's encodings, batch 1, no guidance."""
    import torch

    loaded, _ = runner.models.get(ModelRef.embedded(name))
    pipe = loaded.pipe
    unet = pipe.unet
    states, mask, pooled = pipe.encode_prompt([PROMPT], [""], False)
    generator = torch.Generator("cpu").manual_seed(1)
    size = 32 // 2
    latents = torch.randn((1, unet.config.in_channels, size, size), generator=generator)
    timestep = torch.tensor([999])

    @torch.no_grad()
    def forward() -> object:
        return unet(
            latents,
            timestep,
            encoder_hidden_states=states,
            encoder_attention_mask=mask,
            class_labels=pooled,
        ).sample

    return forward


def measure(name: str, repeats: int, warmup: int = 3) -> dict[str, Sample]:
    runner = make_runner()
    variants: dict[str, Callable[[], object]] = {}
    for steps in STEPS:
        variants[f"{steps} step{'s' if steps > 1 else ''} through the Runner"] = job_call(
            runner, student_job(name, steps)
        )
    job_call(runner, student_job(name, 1))()  # loads the student before its UNet is taken
    variants[FLOOR] = unet_call(runner, name)
    uncached = uncached_runner()
    if uncached is not None:
        variants[UNCACHED] = job_call(uncached, student_job(name, 1))
    return interleaved(variants, repeats=repeats, warmup=warmup)


def table(name: str, samples: dict[str, Sample]) -> list[str]:
    floor = samples[FLOOR].median
    rows = [
        f"**{name}, 32x32, batch 1**",
        "",
        "| variant | median ms | spread | ratio to one UNet evaluation | per UNet evaluation |",
        "|---|---|---|---|---|",
    ]
    for label, s in samples.items():
        steps = int(label.split()[0]) if label[0].isdigit() else 1
        ratio = s.median / floor
        rows.append(
            f"| {label} | {s.median * 1e3:.1f} | ±{s.spread:.1%} | {ratio:.2f}x | "
            f"{ratio / steps:.2f}x |"
        )
    one = samples[next(iter(samples))].median / floor
    verdict = "met" if one <= TARGET else "not met"
    return [
        *rows,
        "",
        f"1-step image against the floor: {one:.2f}x (target ≤ {TARGET}x: {verdict})",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--student", default="emoji-student-1step")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args(argv)
    samples = measure(args.student, args.repeats)
    lines = [f"Machine: {machine()}", "", *table(args.student, samples)]
    text = "\n".join(lines)
    publish(text, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
