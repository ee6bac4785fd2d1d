"""Switching models changes the image size to the new models' family size, unless the user
chose a size of their own."""

from __future__ import annotations

from pathlib import Path

from studio.core.model_resolver import ModelResolver
from studio.viewmodels.model_pairs import ModelPairs, alone_pair
from tests.core.test_native_size import folder


def sized_folder(root: Path, sample_size: int) -> str:
    """An SD folder's configs (no weights): side `sample_size` * 8."""
    return str(folder(root, sample_size, 4, "StableDiffusionPipeline"))


def test_a_model_switch_takes_the_new_family_size_over_a_default_one(tmp_path):
    pairs = ModelPairs(ModelResolver(tmp_path / "models"))
    xl, sd = sized_folder(tmp_path / "xl", 128), sized_folder(tmp_path / "sd", 64)
    embedded = ("emoji-teacher", None)
    assert pairs.size_after(alone_pair(xl), (32, 32), embedded) == (1024, 1024)
    assert pairs.size_after(alone_pair(sd), (1024, 1024), (xl, None)) == (512, 512)
    assert pairs.size_after(alone_pair("emoji-teacher"), (1024, 1024), (xl, None)) == (32, 32)


def test_a_size_the_user_chose_is_kept(tmp_path):
    pairs = ModelPairs(ModelResolver(tmp_path / "models"))
    xl, sd = sized_folder(tmp_path / "xl", 128), sized_folder(tmp_path / "sd", 64)
    assert pairs.size_after(alone_pair(xl), (640, 384), (sd, None)) == (640, 384)
