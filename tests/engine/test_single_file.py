"""Single-file checkpoints: tiny SD 1.x-, SD 2.x- and SDXL-like pipelines saved both as diffusers
folders and as single files in the original (LDM / SGM) layout load to the same images.

The single files are written by the converter in tests/engine/ldm_layout.py, checked here to
round-trip through diffusers' own original->diffusers converters. The loader is pointed at the
tiny pipelines' configs (the shipped configs are for full-size models; see
test_single_file_configs.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers.loaders.single_file_utils import (
    convert_ldm_clip_checkpoint,
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
    convert_open_clip_checkpoint,
)
from safetensors.torch import save_file

from studio.cli import main
from studio.core.models import ModelRef, ModelSource
from studio.engine import single_file
from studio.engine.loading import ModelLoadError, load_pipeline
from tests.engine import ldm_layout
from tests.engine.tiny import (
    build_tiny_sd2_pipeline,
    build_tiny_sd_pipeline,
    build_tiny_sdxl_pipeline,
)

BUILDERS = {
    "sd1": build_tiny_sd_pipeline,
    "sd2": build_tiny_sd2_pipeline,
    "sdxl": build_tiny_sdxl_pipeline,
}
PIPELINE_CLASSES = {
    "sd1": "StableDiffusionPipeline",
    "sd2": "StableDiffusionPipeline",
    "sdxl": "StableDiffusionXLPipeline",
}
PREDICTION = {"sd1": "epsilon", "sd2": "v_prediction", "sdxl": "epsilon"}


class Saved:
    """One tiny pipeline on disk: a diffusers folder, its configs alone, and a single file."""

    def __init__(self, root: Path, family: str) -> None:
        self.family = family
        self.pipe = BUILDERS[family]()
        self.folder = root / family
        self.pipe.save_pretrained(self.folder, safe_serialization=True)
        self.config = root / f"{family}-config"
        shutil.copytree(self.folder, self.config, ignore=shutil.ignore_patterns("*.safetensors"))
        self.file = ldm_layout.save_single_file(self.pipe, family, root / f"{family}.safetensors")

    def file_ref(self, path: Path | None = None, **changes: Any) -> ModelRef:
        fields: dict[str, Any] = {"config": str(self.config)} | changes
        return ModelRef(location=str(path or self.file), source=ModelSource.file, **fields)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Saved]:
    root = tmp_path_factory.mktemp("single-file")
    return {family: Saved(root, family) for family in BUILDERS}


def generate(pipe: Any) -> np.ndarray:
    return pipe(
        "a cat",
        num_inference_steps=2,
        guidance_scale=3.0,
        height=32,
        width=32,
        generator=torch.Generator().manual_seed(7),
        output_type="np",
    ).images[0]


def assert_same_state(expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor]) -> None:
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert torch.equal(got[key], value), key


@pytest.mark.parametrize("family", list(BUILDERS))
def test_the_converter_round_trips_through_diffusers(family):
    pipe = BUILDERS[family]()
    original = ldm_layout.pipeline_to_ldm(pipe, family)
    assert all(
        k.startswith(("model.", "first_stage_model.", "cond_", "conditioner.")) for k in original
    )
    unet = convert_ldm_unet_checkpoint(original, dict(pipe.unet.config))
    assert_same_state(pipe.unet.state_dict(), unet)
    assert_same_state(
        pipe.vae.state_dict(), convert_ldm_vae_checkpoint(original, dict(pipe.vae.config))
    )
    text = ldm_layout._text_state(pipe.text_encoder)
    if family == "sd1":
        assert_same_state(text, convert_ldm_clip_checkpoint(original))
    elif family == "sd2":
        got = convert_open_clip_checkpoint(pipe.text_encoder, original, ldm_layout.SD2_TEXT)
        assert_same_state(text, got)
    else:
        first = {k: v for k, v in original.items() if k.startswith(ldm_layout.SDXL_TEXT)}
        assert_same_state(text, convert_ldm_clip_checkpoint(first))
        second = convert_open_clip_checkpoint(pipe.text_encoder_2, original, ldm_layout.SDXL_TEXT_2)
        assert_same_state(ldm_layout._text_state(pipe.text_encoder_2), second)


@pytest.mark.parametrize("family", list(BUILDERS))
def test_a_single_file_gives_the_folder_images(saved, family):
    model = saved[family]
    from_folder = load_pipeline(ModelRef(location=str(model.folder)), device="cpu")
    from_file = load_pipeline(model.file_ref(), device="cpu")
    assert type(from_file.pipe).__name__ == PIPELINE_CLASSES[family]
    assert from_file.family == from_folder.family
    assert from_file.latent_format == from_folder.latent_format
    assert from_file.base_scheduler_config["prediction_type"] == PREDICTION[family]
    folder_image, file_image = generate(from_folder.pipe), generate(from_file.pipe)
    assert folder_image.std() > 0.01
    np.testing.assert_array_equal(file_image, folder_image)


def test_another_seed_of_weights_gives_other_images(saved, tmp_path):
    """The comparison above can fail: a file of other weights draws another image."""
    model = saved["sd1"]
    other = ldm_layout.save_single_file(
        build_tiny_sd_pipeline(seed=1), "sd1", tmp_path / "o.safetensors"
    )
    image = generate(load_pipeline(model.file_ref(other), device="cpu").pipe)
    assert not np.array_equal(image, generate(load_pipeline(model.file_ref(), device="cpu").pipe))


def test_the_file_is_read_by_content_not_by_name(saved, tmp_path):
    model = saved["sd1"]
    renamed = Path(shutil.copy(model.file, tmp_path / "model.ckpt"))
    expected = generate(load_pipeline(model.file_ref(), device="cpu").pipe)
    np.testing.assert_array_equal(generate(load_pipeline(model.file_ref(renamed)).pipe), expected)


def test_a_pickle_checkpoint_needs_the_opt_in_and_then_matches(saved, tmp_path):
    model = saved["sdxl"]
    path = tmp_path / "sdxl.ckpt"
    torch.save({"state_dict": ldm_layout.pipeline_to_ldm(model.pipe, "sdxl")}, path)
    with pytest.raises(ModelLoadError, match=r"^sdxl.ckpt is a PyTorch zip checkpoint"):
        load_pipeline(model.file_ref(path))
    loaded = load_pipeline(model.file_ref(path, allow_pickle=True), device="cpu")
    expected = load_pipeline(ModelRef(location=str(model.folder)), device="cpu")
    np.testing.assert_array_equal(generate(loaded.pipe), generate(expected.pipe))


def test_a_lora_file_is_refused_from_its_header_alone(tmp_path, monkeypatch):
    path = tmp_path / "style.safetensors"
    save_file({"lora_unet_down_blocks_0.lora_up.weight": torch.zeros(4, 2)}, str(path))
    monkeypatch.setattr(single_file, "load_weights", lambda *a, **k: pytest.fail("read"))
    with pytest.raises(ModelLoadError) as caught:
        load_pipeline(ModelRef(location=str(path), source=ModelSource.file))
    assert str(caught.value) == (
        "style.safetensors holds a LoRA adapter, not a full SD 1.x, SD 2.x or SDXL checkpoint: "
        "pick such a checkpoint, or a diffusers model folder."
    )


def test_a_checkpoint_without_its_vae_is_refused(saved, tmp_path):
    model = saved["sd2"]
    state = ldm_layout.pipeline_to_ldm(model.pipe, "sd2")
    path = tmp_path / "novae.safetensors"
    save_file({k: v.contiguous() for k, v in state.items() if "first_stage" not in k}, str(path))
    with pytest.raises(ModelLoadError) as caught:
        load_pipeline(model.file_ref(path))
    assert str(caught.value) == (
        "novae.safetensors looks like an SD 2.x checkpoint but lacks its VAE weights: pick a "
        "full checkpoint."
    )


@pytest.mark.parametrize(
    ("dropped", "component"),
    [("out.2.weight", "unet"), ("final_layer_norm.bias", "text_encoder")],
)
def test_a_checkpoint_missing_some_weights_is_refused(saved, tmp_path, dropped, component):
    model = saved["sd1"]
    state = ldm_layout.pipeline_to_ldm(model.pipe, "sd1")
    path = tmp_path / "partial.safetensors"
    save_file({k: v.contiguous() for k, v in state.items() if dropped not in k}, str(path))
    with pytest.raises(ModelLoadError) as caught:
        load_pipeline(model.file_ref(path))
    assert str(caught.value) == (
        f"partial.safetensors lacks some of its {component} weights: the file is incomplete, "
        "or not of the family its config is for."
    )


def test_a_config_of_another_family_is_refused(saved):
    with pytest.raises(ModelLoadError) as caught:
        load_pipeline(saved["sdxl"].file_ref(config="sd15"))
    assert str(caught.value) == ("The config 'sd15' does not fit an SDXL checkpoint: use sdxl.")
    with pytest.raises(ModelLoadError) as caught:
        load_pipeline(saved["sd1"].file_ref(config=str(saved["sdxl"].config)))
    assert str(caught.value) == (
        "sd1.safetensors is an SD 1.x checkpoint, but the config sdxl-config is for "
        "StableDiffusionXLPipeline: pick a config of its family."
    )


def test_a_config_asking_for_foreign_code_is_refused(saved, tmp_path):
    config = Path(shutil.copytree(saved["sd1"].config, tmp_path / "config"))
    index = json.loads((config / "model_index.json").read_text())
    index["unet"] = ["my_package", "EvilUNet"]
    (config / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ModelLoadError, match=r"asks for its unet as my_package\.EvilUNet"):
        load_pipeline(saved["sd1"].file_ref(config=str(config)))


def test_a_config_without_vocabulary_uses_the_shipped_clip_files(saved, tmp_path):
    """The tiny encoder knows ~1,000 tokens, the shipped CLIP vocabulary 49,408: caught."""
    config = Path(shutil.copytree(saved["sd1"].config, tmp_path / "config"))
    (config / "tokenizer" / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError) as caught:
        load_pipeline(saved["sd1"].file_ref(config=str(config)))
    assert "has 49408 tokens but its text encoder expects" in str(caught.value)


def test_a_config_is_for_single_files_only(saved):
    ref = ModelRef(location=str(saved["sd1"].folder), config="sd15")
    with pytest.raises(ModelLoadError, match="for a single-file checkpoint only"):
        load_pipeline(ref)


def test_cli_generates_from_a_single_file(saved, tmp_path, capsys):
    model = saved["sdxl"]
    out = tmp_path / "x.png"
    argv = ["generate", "--model", str(model.file), "--config", str(model.config)]
    argv += ["--quiet", "--steps", "2", "--width", "32", "--height", "32", "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    assert out.is_file()


def test_the_weights_are_cast_to_the_asked_dtype_after_the_check(saved):
    loaded = load_pipeline(saved["sdxl"].file_ref(), device="cpu", dtype="fp16")
    modules = [
        loaded.pipe.unet,
        loaded.pipe.vae,
        loaded.pipe.text_encoder,
        loaded.pipe.text_encoder_2,
    ]
    assert loaded.dtype == torch.float16
    assert {p.dtype for m in modules for p in m.parameters()} == {torch.float16}
