"""Model loading: tiny saved folders load; unsafe, missing or uncached models are clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.core import paths
from studio.core.models import ModelRef, ModelSource
from studio.core.samplers import ModelKind
from studio.engine.loading import (
    ModelLoadError,
    family_of,
    inspect_folder,
    load_pipeline,
    pick_device,
    pick_dtype,
    shared_text_encoder,
)


def folder_ref(folder: Path) -> ModelRef:
    return ModelRef(location=str(folder), source=ModelSource.folder)


def copy_model(source: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(source, tmp_path / source.name))


def edit_index(folder: Path, **changes: object) -> None:
    index_file = folder / "model_index.json"
    index = json.loads(index_file.read_text())
    index_file.write_text(json.dumps({**index, **changes}))


def load_error(ref: ModelRef) -> str:
    with pytest.raises(ModelLoadError) as caught:
        load_pipeline(ref)
    return str(caught.value)


def test_tiny_sd_folder_loads(tiny_sd_folder):
    loaded = load_pipeline(folder_ref(tiny_sd_folder))
    assert type(loaded.pipe).__name__ == "StableDiffusionPipeline"
    assert (loaded.kind, loaded.family, loaded.latent_format) == (ModelKind.vp, "sd", "sd15")
    assert loaded.device == torch.device("cpu") and loaded.dtype == torch.float32
    assert loaded.base_scheduler_config["_class_name"] == "PNDMScheduler"
    assert loaded.pipe._progress_bar_config == {"disable": True}
    assert loaded.load_s > 0
    images = loaded.pipe("a cat", num_inference_steps=1, height=32, width=32, output_type="np")
    assert np.isfinite(images.images).all()


def test_base_scheduler_config_is_a_copy(tiny_sd_folder):
    loaded = load_pipeline(folder_ref(tiny_sd_folder))
    loaded.pipe.scheduler.register_to_config(steps_offset=7)
    assert loaded.base_scheduler_config["steps_offset"] == 1


def test_tiny_emoji_folder_loads_with_the_shared_text_encoder(tiny_emoji_folder):
    first = load_pipeline(folder_ref(tiny_emoji_folder))
    second = load_pipeline(folder_ref(tiny_emoji_folder))
    assert type(first.pipe).__name__ == "EmojiPipeline"
    assert (first.kind, first.family, first.latent_format) == (
        ModelKind.vp,
        "emoji",
        "pixel_unshuffle2",
    )
    assert first.pipe.text_encoder is second.pipe.text_encoder is shared_text_encoder()[0]
    assert first.base_scheduler_config["prediction_type"] == "v_prediction"
    assert first.base_scheduler_config["rescale_betas_zero_snr"] is True
    pixels = first.pipe("grinning face", num_inference_steps=1, output_type="pt").images
    assert pixels.shape == (1, 3, 32, 32) and torch.isfinite(pixels).all()


def test_tiny_sd3_folder_is_a_flow_model(tiny_sd3_folder):
    loaded = load_pipeline(folder_ref(tiny_sd3_folder))
    assert (loaded.kind, loaded.family, loaded.latent_format) == (ModelKind.flow, "sd3", "none")
    assert loaded.pipe.text_encoder_3 is None


def test_embedded_model_loads_from_the_models_dir(tiny_emoji_folder, tmp_path, monkeypatch):
    shutil.copytree(tiny_emoji_folder, tmp_path / "emoji-test")
    monkeypatch.setattr(paths, "models_dir", lambda: tmp_path)
    loaded = load_pipeline(ModelRef.embedded("emoji-test"))
    assert loaded.family == "emoji"


def test_unknown_device_is_a_load_error(tiny_sd_folder):
    with pytest.raises(ModelLoadError, match="'toaster' is not a device"):
        load_pipeline(folder_ref(tiny_sd_folder), device="toaster")


def test_missing_folder(tmp_path):
    message = load_error(folder_ref(tmp_path / "nope"))
    assert message == f"The model folder {tmp_path / 'nope'} does not exist."


def test_folder_without_model_index(tmp_path):
    (tmp_path / "empty").mkdir()
    message = load_error(folder_ref(tmp_path / "empty"))
    assert message == "empty is not a diffusers model folder: model_index.json is missing."


def test_folder_with_only_a_pickle_file(tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"\x80\x04not really a pickle")
    message = load_error(folder_ref(folder))
    assert message.startswith("pickled has only pickle weights (model.bin)")
    assert message.endswith("the studio loads safetensors weights only.")


def test_component_with_only_pickle_weights(tiny_sd_folder, tmp_path):
    folder = copy_model(tiny_sd_folder, tmp_path)
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    torch.save({"w": torch.zeros(2)}, weights.with_suffix(".bin"))
    weights.unlink()
    assert "tiny-sd's unet has only pickle weights" in load_error(folder_ref(folder))


def test_python_code_in_the_folder_is_refused(tiny_sd_folder, tmp_path):
    folder = copy_model(tiny_sd_folder, tmp_path)
    (folder / "unet" / "my_unet.py").write_text("raise SystemExit('ran')\n")
    assert "ships Python code (my_unet.py)" in load_error(folder_ref(folder))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"unet": ["evil_lib", "UNet"]}, "from diffusers and transformers only"),
        ({"unet": ["os", "system"]}, "from diffusers and transformers only"),
        ({"_class_name": "EvilPipeline"}, "which the studio does not load"),
        ({"_class_name": "DiffusionPipeline"}, "which the studio does not load"),
        ({"_class_name": ["pipeline", "MyPipeline"]}, "asks for a custom pipeline"),
    ],
)
def test_model_index_allowlist(tiny_sd_folder, tmp_path, changes, expected):
    folder = copy_model(tiny_sd_folder, tmp_path)
    edit_index(folder, **changes)
    assert expected in load_error(folder_ref(folder))


def test_invalid_model_index(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "model_index.json").write_text("{not json")
    assert load_error(folder_ref(folder)).endswith("model_index.json is not valid JSON.")


def test_fp16_only_weights_ask_for_the_fp16_variant(tmp_path):
    (tmp_path / "unet").mkdir()
    empty_safetensors = b"\x02\x00\x00\x00\x00\x00\x00\x00{}"
    (tmp_path / "unet" / "diffusion_pytorch_model.fp16.safetensors").write_bytes(empty_safetensors)
    index = {
        "_class_name": "StableDiffusionPipeline",
        "unet": ["diffusers", "UNet2DConditionModel"],
    }
    (tmp_path / "model_index.json").write_text(json.dumps(index))
    assert inspect_folder(tmp_path, "x").variant == "fp16"


def test_hub_model_not_in_cache_while_offline(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    message = load_error(ModelRef(location="org/name", source=ModelSource.hub))
    assert message == (
        "Model 'org/name' is not in the local cache and this machine is offline: download it "
        "once with a network connection, or pick a local folder."
    )


def test_malformed_hub_id():
    message = load_error(ModelRef(location="../etc", source=ModelSource.hub))
    assert message == "'../etc' is not a hub model id: use the form org/name."


def test_an_empty_single_file_is_no_checkpoint(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    message = load_error(ModelRef(location=str(path), source=ModelSource.file))
    assert message.startswith("x.safetensors holds no model the studio recognises")


@pytest.mark.parametrize("name", ["../x", "a/b", "/etc", "..", ".", "", "a\\b", "c:x"])
def test_embedded_names_must_be_plain_folder_names(name):
    with pytest.raises(ValueError, match="not an embedded model name"):
        paths.embedded_model_dir(name)
    with pytest.raises(ModelLoadError, match="not an embedded model name"):
        load_pipeline(ModelRef.embedded(name))


def test_embedded_model_dir_is_under_the_models_dir():
    assert (
        paths.embedded_model_dir("emoji-teacher") == paths.models_dir().resolve() / "emoji-teacher"
    )


def test_resolve_inside(tmp_path):
    assert paths.resolve_inside(tmp_path, "a/b") == tmp_path.resolve() / "a" / "b"
    with pytest.raises(ValueError, match="points outside"):
        paths.resolve_inside(tmp_path, "../x")
    with pytest.raises(ValueError, match="points outside"):
        paths.resolve_inside(tmp_path, "/etc/passwd")


def test_checkout_data_dirs_are_found():
    repo = Path(paths.__file__).resolve().parents[2]
    assert paths.assets_dir() == repo / "assets"
    assert paths.models_dir() == repo / "assets" / "models"
    assert paths.presets_dir() == repo / "presets"


def test_packaged_data_dirs_are_the_fallback(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "CHECKOUT_ROOT", tmp_path)
    assert paths.assets_dir() == paths.PACKAGED_ROOT / "assets"
    assert paths.presets_dir() == paths.PACKAGED_ROOT / "presets"


def test_pick_device_and_dtype():
    if not torch.cuda.is_available():
        assert pick_device() == torch.device("cpu")
        with pytest.raises(ValueError, match="no usable CUDA device"):
            pick_device("cuda")
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_dtype(torch.device("cpu")) == torch.float32
    assert pick_dtype(torch.device("cuda")) == torch.float16
    assert pick_dtype(torch.device("mps")) == torch.float16
    assert pick_dtype(torch.device("cpu"), "bf16") == torch.bfloat16
    with pytest.raises(ValueError, match="not a dtype"):
        pick_dtype(torch.device("cpu"), "fp8")
    with pytest.raises(ValueError, match="not a device"):
        pick_device("toaster")


@pytest.mark.parametrize(
    ("class_name", "family"),
    [
        ("EmojiPipeline", "emoji"),
        ("StableDiffusionPipeline", "sd"),
        ("StableDiffusionXLPipeline", "sdxl"),
        ("StableDiffusion3Pipeline", "sd3"),
        ("FluxPipeline", "flux"),
        ("LatentConsistencyModelPipeline", "sd"),
        ("PixArtAlphaPipeline", "unknown"),
    ],
)
def test_family_of(class_name, family):
    assert family_of(class_name) == family
