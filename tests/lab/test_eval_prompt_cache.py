"""An eval encodes each prompt once for all the models that share the text encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.core.models import ModelRef, ModelSource
from studio.core.settings import LaneRecipe
from studio.engine.loading import shared_text_encoder
from studio.engine.model_cache import ModelCache
from studio.engine.prompt_cache import PromptCache
from studio.engine.runner import Runner
from studio.lab.eval_job import eval_runner
from studio.lab.evaluate import EvalItem, generate_set, with_noises
from tests.engine.test_prompt_cache import counting
from tests.engine.tiny import save_tiny_emoji_pipeline

ITEMS = [EvalItem(f"face {i}, smileys, face-smiling, flat", 0, i) for i in range(3)]
RECIPE = LaneRecipe(sampler="DDIM trailing", num_inference_steps=2, guidance_scale=3.0)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> list[ModelRef]:
    root: Path = tmp_path_factory.mktemp("eval-models")
    folders = [save_tiny_emoji_pipeline(root / f"emoji-{seed}", seed=seed) for seed in (0, 1)]
    return [ModelRef(location=str(f), source=ModelSource.folder) for f in folders]


def test_an_eval_of_two_models_encodes_each_prompt_once(models):
    runner = eval_runner(len(ITEMS))
    encoder, _ = shared_text_encoder()
    with counting(encoder) as calls:
        cached = [generate_set(runner, model, RECIPE, ITEMS) for model in models]
    assert calls[0] == len(ITEMS) + 1, "each prompt, and the empty negative prompt, once"
    uncached_runner = Runner(ModelCache(capacity=1), prompt_cache=PromptCache(capacity=0))
    for model, images in zip(models, cached, strict=True):
        np.testing.assert_array_equal(generate_set(uncached_runner, model, RECIPE, ITEMS), images)


def test_more_noises_keep_the_fixed_set_first_and_draw_new_images_after_it(models):
    noised = with_noises(ITEMS, 3, set_size=10)
    assert [i.seed for i in noised] == [0, 1, 2, 10, 11, 12, 20, 21, 22]
    assert [i.prompt for i in noised] == [i.prompt for i in ITEMS] * 3
    runner = eval_runner(len(ITEMS))
    encoder, _ = shared_text_encoder()
    with counting(encoder) as calls:
        images = generate_set(runner, models[0], RECIPE, noised)
    assert calls[0] == len(ITEMS) + 1, "more noises encode no prompt again"
    np.testing.assert_array_equal(images[:3], generate_set(runner, models[0], RECIPE, ITEMS))
    assert not np.array_equal(images[:3], images[3:6]), "a new noise makes another image"
    with pytest.raises(ValueError, match="at least one starting noise"):
        with_noises(ITEMS, 0, 10)
