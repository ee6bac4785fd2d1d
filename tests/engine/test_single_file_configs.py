"""The configs shipped for single-file checkpoints describe the real SD 1.5, SD 2.1 and SDXL.

Models are built on the meta device (no memory), so their parameter counts can be compared
with the published sizes of the real components without any weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from accelerate import init_empty_weights
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from studio.core.checkpoint_family import CONFIG_CHOICES, CheckpointFamily
from studio.core.paths import single_file_configs_dir
from studio.engine.single_file import SingleFileError, config_folder, read_config
from studio.engine.single_file import _tokenizer as load_tokenizer

SHIPPED = single_file_configs_dir()
UNET_PARAMS = {"sd15": 859_520_964, "sd21": 865_910_724, "sd21-base": 865_910_724}
UNET_PARAMS["sdxl"] = 2_567_463_684
VAE_PARAMS = 83_653_863
TEXT_PARAMS = {"sd15": 123_060_480, "sd21": 340_387_840, "sd21-base": 340_387_840}
TEXT_PARAMS["sdxl"] = 123_060_480
SDXL_TEXT_2_PARAMS = 694_659_840
FAMILIES = {
    "sd15": CheckpointFamily.sd1,
    "sd21": CheckpointFamily.sd2,
    "sd21-base": CheckpointFamily.sd2,
    "sdxl": CheckpointFamily.sdxl,
}
CAT_IDS = [49406, 320, 1125, 539, 320, 2368, 49407]


def params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_every_config_choice_is_shipped():
    names = {name for choices in CONFIG_CHOICES.values() for name in choices}
    assert names == set(FAMILIES)
    for name in names:
        assert (SHIPPED / name / "model_index.json").is_file()


def test_the_shipped_files_are_small():
    size = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file())
    assert size < 2_000_000
    assert not [p for p in SHIPPED.rglob("*") if p.suffix in {".safetensors", ".bin", ".ckpt"}]


@pytest.mark.parametrize("name", list(FAMILIES))
def test_a_shipped_config_parses_with_the_expected_classes(name):
    config = read_config(SHIPPED / name, FAMILIES[name], "model")
    components = dict(config.components)
    assert components["unet"] == ("diffusers", "UNet2DConditionModel")
    assert components["vae"] == ("diffusers", "AutoencoderKL")
    assert components["text_encoder"] == ("transformers", "CLIPTextModel")
    assert components["tokenizer"] == ("transformers", "CLIPTokenizer")
    assert components.get("safety_checker") is None
    if name == "sdxl":
        assert config.class_name == "StableDiffusionXLPipeline"
        assert components["text_encoder_2"] == ("transformers", "CLIPTextModelWithProjection")
    else:
        assert config.class_name == "StableDiffusionPipeline"


@pytest.mark.parametrize("name", list(FAMILIES))
def test_a_shipped_config_has_the_real_model_sizes(name):
    folder = SHIPPED / name
    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae"))
        text = CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder"))
    assert params(unet) == UNET_PARAMS[name]
    assert params(vae) == VAE_PARAMS
    assert params(text) == TEXT_PARAMS[name]
    if name == "sdxl":
        config = CLIPTextConfig.from_pretrained(folder / "text_encoder_2")
        with init_empty_weights():
            assert params(CLIPTextModelWithProjection(config)) == SDXL_TEXT_2_PARAMS


@pytest.mark.parametrize(
    ("name", "prediction", "side", "scaling"),
    [
        ("sd15", "epsilon", 512, 0.18215),
        ("sd21", "v_prediction", 768, 0.18215),
        ("sd21-base", "epsilon", 512, 0.18215),
        ("sdxl", "epsilon", 1024, 0.13025),
    ],
)
def test_a_shipped_config_has_the_real_schedule_and_size(name, prediction, side, scaling):
    folder = SHIPPED / name
    scheduler = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    unet = json.loads((folder / "unet" / "config.json").read_text())
    vae = json.loads((folder / "vae" / "config.json").read_text())
    assert scheduler["prediction_type"] == prediction
    assert (scheduler["beta_start"], scheduler["beta_end"]) == (0.00085, 0.012)
    assert unet["sample_size"] * 8 == side
    assert vae["scaling_factor"] == scaling


@pytest.mark.parametrize(
    ("name", "tokenizer", "pad_id"),
    [
        ("sd15", "tokenizer", 49407),
        ("sd21", "tokenizer", 0),
        ("sdxl", "tokenizer", 49407),
        ("sdxl", "tokenizer_2", 0),
    ],
)
def test_the_shipped_tokenizers_give_clip_ids(name, tokenizer, pad_id):
    loaded = load_tokenizer(SHIPPED / name / tokenizer)
    assert len(loaded) == 49408 and loaded.model_max_length == 77
    ids = loaded("a photo of a cat", padding="max_length", max_length=10)["input_ids"]
    assert ids == [*CAT_IDS, pad_id, pad_id, pad_id]
    exclamation = 256 if pad_id else 0  # a "!" pad token is a special token, also in a prompt
    assert loaded("Hello, World!")["input_ids"] == [49406, 3306, 267, 1002, exclamation, 49407]


def test_shipped_configs_are_picked_by_family_and_choice():
    assert config_folder(CheckpointFamily.sd1) == SHIPPED.resolve() / "sd15"
    assert config_folder(CheckpointFamily.sd2) == SHIPPED.resolve() / "sd21"
    assert config_folder(CheckpointFamily.sd2, "sd21-base") == SHIPPED.resolve() / "sd21-base"
    assert config_folder(CheckpointFamily.sdxl, str(SHIPPED / "sdxl")) == SHIPPED / "sdxl"
    with pytest.raises(SingleFileError, match=r"does not fit an SD 2\.x checkpoint"):
        config_folder(CheckpointFamily.sd2, "sdxl")
    with pytest.raises(SingleFileError, match="is neither a shipped config"):
        config_folder(CheckpointFamily.sd1, "no-such-config")


def test_the_clip_vocabulary_is_the_one_the_generator_writes(tmp_path):
    """packaging/clip_tokenizer.py builds the same vocabulary from a BPE merges file."""
    import importlib.util

    script = Path(__file__).resolve().parents[2] / "packaging" / "clip_tokenizer.py"
    spec = importlib.util.spec_from_file_location("clip_tokenizer", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    merges = (SHIPPED / "clip-tokenizer" / "merges.txt").read_text("utf-8").splitlines()[1:]
    vocab = module.build_vocab(merges)
    shipped = json.loads((SHIPPED / "clip-tokenizer" / "vocab.json").read_text("utf-8"))
    assert vocab == shipped
    assert shipped["<|startoftext|>"] == 49406 and shipped["!"] == 0
