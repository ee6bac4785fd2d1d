"""Every catalogue sampler at 2, 4 and 8 steps on every embedded model: an image or a refusal
with its reason, never noise (docs/screenshots/grid.png once showed DPM2 painting noise).

The fast suite checks the teacher on one prompt, without the two analytic-variance samplers,
AMED and the AMED-Plugin (each first estimates a Gamma table or trains a predictor, minutes on a
CPU; their own tests are in tests/engine/test_amed*.py); `pytest -m slow` checks all five
embedded models on three prompts with every sampler (about 12 min per model on a busy 2-core
machine; the table of 2026-12-06 is in docs/BENCHMARKS.md, "Samplers on the embedded models").
"""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.samplers import SAMPLERS
from studio.engine.model_cache import ModelCache
from studio.engine.runner import Runner
from studio.lab.eval_job import installed, recipe_for
from studio.lab.sampler_fit import MIN_PSNR, PROMPTS, check, mean_psnr

EMBEDDED = (
    "emoji-teacher",
    "emoji-student-4step",
    "emoji-student-2step",
    "emoji-student-1step",
    "emoji-student-lcm",
)


def test_the_measure_passes_a_blurred_image_and_fails_noise_and_wrong_colours():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:32]
    disc = ((yy - 16) ** 2 + (xx - 16) ** 2 < 140)[..., None] * np.array([250, 200, 30])
    image = np.where(disc > 0, disc, 255).astype(np.uint8)[None]
    blurred = (
        image.astype(float) * 0.5
        + np.roll(image, 1, axis=2) * 0.25
        + np.roll(image, -1, axis=2) * 0.25
    ).astype(np.uint8)
    noise = rng.integers(0, 256, image.shape, dtype=np.uint8)
    blue = np.where(disc > 0, np.array([30, 60, 240]), 255).astype(np.uint8)[None]
    assert mean_psnr(blurred, image) > MIN_PSNR + 5
    assert mean_psnr(noise, image) < MIN_PSNR and mean_psnr(blue, image) < MIN_PSNR


PREPARED = frozenset(s.name for s in SAMPLERS if s.needs_gamma_table or s.needs_predictor)


def _assert_no_noise(results) -> None:
    noisy = [r.row() for r in results if r.outcome == "noise"]
    assert not noisy, "\n".join(noisy)
    assert sum(r.outcome == "image" for r in results) > len(results) // 2
    assert any(r.sampler == "DPM2" and r.outcome == "refused" for r in results)


def test_no_sampler_paints_noise_on_the_teacher():
    name = "emoji-teacher"
    runner = Runner(ModelCache(capacity=1))
    results = check(runner, name, recipe_for(name), (2, 4, 8), PROMPTS[:1], PREPARED)
    _assert_no_noise(results)


@pytest.mark.slow
@pytest.mark.parametrize("name", EMBEDDED)
def test_no_sampler_paints_noise_on_an_embedded_model(name):
    if not installed(name):
        pytest.skip(f"{name} is not installed")
    _assert_no_noise(check(Runner(ModelCache(capacity=1)), name, recipe_for(name), (2, 4, 8)))
