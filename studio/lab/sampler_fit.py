"""Every sampler at a few step counts on a model: refused with a reason, or an image, never noise.

Each (sampler, steps) runs through the engine's Runner on a few prompts, from the same seeds and
starting noise as the model's own recipe. A run "paints noise" when its images are not finite or
land far from the recipe's images: mean PSNR below ``MIN_PSNR`` dB. A blurrier or slightly
different image from too few steps passes (most score 15-30 dB); a solver that diverged into
speckle or wrong colours (DPM2 at 2 steps on the zero-SNR teacher once painted a blue blob at
about 6 dB) does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.core.metrics import psnr
from studio.core.models import ModelRef
from studio.core.params import ValidationError
from studio.core.samplers import ModelKind
from studio.core.settings import LaneRecipe
from studio.engine.samplers import SamplerError, available_samplers
from studio.lab.evaluate import EvalItem, generate_set

MIN_PSNR = 11.0
PROMPTS = ("red heart, noto style", "grinning face, twemoji style", "pizza, noto style")


@dataclass(frozen=True, slots=True)
class FitResult:
    """What one sampler at one step count did on one model."""

    model: str
    sampler: str
    steps: int
    outcome: str  # "image", "refused" or "noise"
    detail: str

    def row(self) -> str:
        return f"| {self.model} | {self.sampler} | {self.steps} | {self.outcome} | {self.detail} |"


def items(prompts: tuple[str, ...] = PROMPTS) -> list[EvalItem]:
    return [EvalItem(prompt, -1, seed) for seed, prompt in enumerate(prompts)]


def mean_psnr(images: np.ndarray, reference: np.ndarray) -> float:
    return float(np.mean([psnr(a, b) for a, b in zip(images, reference, strict=True)]))


def check(
    runner,
    name: str,
    recipe: LaneRecipe,
    steps: tuple[int, ...],
    prompts: tuple[str, ...] = PROMPTS,
    leave_out: frozenset[str] = frozenset(),
) -> list[FitResult]:
    """Run every available VP sampler (but `leave_out`) at each step count on the embedded
    model `name`."""
    ref = ModelRef.embedded(name)
    reference = generate_set(runner, ref, recipe, items(prompts))
    results = []
    for spec in available_samplers(ModelKind.vp):
        if spec.name in leave_out:
            continue
        for n in steps:
            trial = LaneRecipe(
                sampler=spec.name, num_inference_steps=n, guidance_scale=recipe.guidance_scale
            )
            try:
                images = generate_set(runner, ref, trial, items(prompts))
            except (SamplerError, ValidationError) as exc:
                results.append(FitResult(name, spec.name, n, "refused", str(exc)))
                continue
            if not np.isfinite(images.astype(np.float64)).all():
                results.append(FitResult(name, spec.name, n, "noise", "not finite"))
                continue
            score = mean_psnr(images, reference)
            outcome = "image" if score >= MIN_PSNR else "noise"
            results.append(FitResult(name, spec.name, n, outcome, f"{score:.1f} dB to the recipe"))
    return results
