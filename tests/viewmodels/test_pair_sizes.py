"""Switching models changes the image size to the new models' family size, unless the user
chose a size of their own."""

from __future__ import annotations

import json
from pathlib import Path

from studio.core.model_resolver import ModelResolver
from studio.viewmodels.model_pairs import ModelPairs, alone_pair


def sized_folder(root: Path, sample_size: int) -> str:
    root.mkdir(parents=True)
    (root / "model_index.json").write_text(
        json.dumps(
            {"_class_name": "StableDiffusionPipeline", "vae": ["diffusers", "AutoencoderKL"]}
        )
    )
    for part, config in (
        ("unet", {"sample_size": sample_size}),
        ("vae", {"block_out_channels": [128, 256, 512, 512]}),
    ):
        (root / part).mkdir()
        (root / part / "config.json").write_text(json.dumps(config))
    return str(root)


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
