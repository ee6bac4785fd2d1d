"""`studio eval --models` entries: a name with its own recipe, or a name with a given recipe."""

from __future__ import annotations

import pytest

from studio.core.settings import LaneRecipe
from studio.lab.eval_job import TEACHER_RECIPE, parse_entry


def test_a_name_alone_keeps_its_own_recipe():
    assert parse_entry(" emoji-teacher ") == ("emoji-teacher", None)


def test_a_recipe_after_the_name_is_used_with_the_models_guidance_by_default():
    name, recipe = parse_entry("emoji-teacher@AMED/4")
    assert name == "emoji-teacher"
    assert recipe == LaneRecipe(
        sampler="AMED", num_inference_steps=4, guidance_scale=TEACHER_RECIPE.guidance_scale
    )
    _, guided = parse_entry("emoji-teacher@DPM++ 2M/20/1/4.5")
    assert guided is not None and guided.guidance_scale == 1.0 and guided.classifier_scale == 4.5
    assert "classifier guidance 4.5" in guided.label()


@pytest.mark.parametrize("bad", ["emoji-teacher@AMED", "emoji-teacher@AMED/four", "x@a/1/2/3/4"])
def test_a_bad_recipe_is_named(bad):
    with pytest.raises(ValueError, match=r"emoji-teacher|x@"):
        parse_entry(bad)
