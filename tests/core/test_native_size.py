"""The default image size follows the model's family, told from its small files."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from studio.core.model_presets import load_model_presets
from studio.core.model_resolver import ModelResolver
from studio.core.models import ModelRef, ModelSource
from studio.core.native_size import (
    CONFIG_SIDES,
    default_size,
    file_side,
    folder_side,
    native_size,
)
from studio.core.paths import presets_dir, single_file_configs_dir

SD1_KEYS = ("model.diffusion_model.x", "first_stage_model.x", "cond_stage_model.transformer.x")
SD2_KEYS = ("model.diffusion_model.x", "first_stage_model.x", "cond_stage_model.model.x")
SDXL_KEYS = (
    "model.diffusion_model.x",
    "first_stage_model.x",
    "conditioner.embedders.0.transformer.x",
    "conditioner.embedders.1.model.x",
)


def write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


def folder(root: Path, sample_size: int | None, vae_blocks: int | None, cls: str = "X") -> Path:
    """A diffusers folder with just the configs the size is told from."""
    index: dict[str, object] = {"_class_name": cls, "unet": ["diffusers", "UNet2DConditionModel"]}
    if vae_blocks is not None:
        index["vae"] = ["diffusers", "AutoencoderKL"]
    write_json(root / "model_index.json", index)
    if sample_size is not None:
        write_json(root / "unet" / "config.json", {"sample_size": sample_size})
    if vae_blocks is not None:
        write_json(root / "vae" / "config.json", {"block_out_channels": [8] * vae_blocks})
    return root


def checkpoint(path: Path, keys: tuple[str, ...]) -> Path:
    """A safetensors file holding one float32 scalar per name (the names are what count)."""
    header = {
        k: {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]}
        for i, k in enumerate(keys)
    }
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(4 * len(keys)))
    return path


def presets():
    return load_model_presets(presets_dir(), None)


@pytest.mark.parametrize(
    ("sample_size", "vae_blocks", "side"),
    [(64, 4, 512), (96, 4, 768), (128, 4, 1024), (16, 2, 32), (32, None, 32)],
)
def test_a_folder_is_the_unet_sample_size_times_the_vae_scale(
    tmp_path, sample_size, vae_blocks, side
):
    root = folder(tmp_path / "m", sample_size, vae_blocks)
    assert folder_side(root) == side
    ref = ModelRef(location=str(root), source=ModelSource.folder)
    assert native_size(ref) == (side, side)


def test_a_folder_without_configs_is_told_by_its_pipeline_class_else_512(tmp_path):
    assert folder_side(folder(tmp_path / "xl", None, None, "StableDiffusionXLPipeline")) == 1024
    assert folder_side(folder(tmp_path / "sd", None, None, "StableDiffusionPipeline")) == 512
    unknown = folder(tmp_path / "x", None, None)
    assert native_size(ModelRef(location=str(unknown))) == (512, 512)
    assert native_size(ModelRef(location=str(tmp_path / "missing"))) == (512, 512)


def test_a_listed_vae_without_its_config_leaves_it_to_the_pipeline_class(tmp_path):
    root = folder(tmp_path / "xl", 128, None, "StableDiffusionXLPipeline")
    write_json(
        root / "model_index.json",
        {"_class_name": "StableDiffusionXLPipeline", "vae": ["diffusers", "AutoencoderKL"]},
    )
    assert folder_side(root) == 1024


def test_the_embedded_emoji_pipeline_is_32_whatever_its_unet_says(tmp_path):
    assert folder_side(folder(tmp_path / "emoji", 16, None, "EmojiPipeline")) == 32


def test_an_adapter_folder_has_its_bases_size(tmp_path):
    folder(tmp_path / "base", 128, 4)
    write_json(
        tmp_path / "student" / "studio_adapter.json",
        {"format": 1, "base": "base", "lora": "l.safetensors"},
    )
    assert folder_side(tmp_path / "student") == 1024


@pytest.mark.parametrize("name", sorted(CONFIG_SIDES))
def test_the_shipped_single_file_configs_agree_with_their_sides(name):
    assert folder_side(single_file_configs_dir() / name) == CONFIG_SIDES[name]


@pytest.mark.parametrize(("keys", "side"), [(SD1_KEYS, 512), (SD2_KEYS, 768), (SDXL_KEYS, 1024)])
def test_a_single_file_is_told_by_its_tensor_names(tmp_path, keys, side):
    path = checkpoint(tmp_path / "model.safetensors", keys)
    assert native_size(ModelRef(location=str(path), source=ModelSource.file)) == (side, side)


def test_a_single_files_config_choice_decides(tmp_path):
    path = checkpoint(tmp_path / "model.safetensors", SD2_KEYS)
    assert file_side(path, "sd21-base") == 512
    assert file_side(path, str(folder(tmp_path / "cfg", 128, 4))) == 1024


def test_a_file_that_says_nothing_gets_512(tmp_path):
    pickle_file = tmp_path / "model.ckpt"
    pickle_file.write_bytes(b"\x80\x04junk")
    ref = ModelRef(location=str(pickle_file), source=ModelSource.file)
    assert native_size(ref) == (512, 512)


def test_embedded_models_keep_their_own_size():
    assert native_size(ModelRef.embedded("emoji-teacher")) == (32, 32)


def test_a_preset_has_its_own_size_and_a_hub_base_its_presets_family():
    catalogue = presets()
    resolver = ModelResolver(Path("/nonexistent"), catalogue)
    turbo = resolver.resolve("preset:SDXL-Turbo")
    assert native_size(turbo, catalogue) == (512, 512)
    lightning = resolver.resolve("preset:SDXL-Lightning 4-step (UNet)")
    assert native_size(lightning, catalogue) == (1024, 1024)
    xl = ModelRef(location="stabilityai/stable-diffusion-xl-base-1.0", source=ModelSource.hub)
    assert native_size(xl, catalogue) == (1024, 1024)
    sd15 = ModelRef(location="stable-diffusion-v1-5/stable-diffusion-v1-5", source=ModelSource.hub)
    assert native_size(sd15, catalogue) == (512, 512)


def test_a_hub_id_in_the_hugging_face_cache_is_told_by_its_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    folder(tmp_path / "models--someone--big" / "snapshots" / "abc", 96, 4)
    assert native_size(ModelRef(location="someone/big", source=ModelSource.hub)) == (768, 768)
    assert native_size(ModelRef(location="someone/other", source=ModelSource.hub)) == (512, 512)


def test_a_comparison_takes_the_larger_size(tmp_path):
    big = ModelRef(location=str(folder(tmp_path / "xl", 128, 4)))
    assert default_size([ModelRef.embedded("emoji-teacher"), big]) == (1024, 1024)
    assert default_size([]) == (512, 512)
