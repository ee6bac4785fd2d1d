"""Single weights files classified from their tensor names (and shapes) alone."""

from __future__ import annotations

import json
import struct

import pytest

from studio.core.checkpoint_family import (
    CheckpointError,
    CheckpointFamily,
    check_checkpoint,
    classify,
    config_for,
)
from studio.core.weights_check import WeightsError, tensor_shapes

UNET = ["model.diffusion_model.input_blocks.0.0.weight", "model.diffusion_model.out.2.bias"]
VAE = ["first_stage_model.decoder.conv_out.weight"]
SD1 = [*UNET, *VAE, "cond_stage_model.transformer.text_model.final_layer_norm.weight"]
SD2 = [
    *UNET,
    *VAE,
    "cond_stage_model.model.ln_final.weight",
    "cond_stage_model.model.text_projection",
]
SDXL = [
    *UNET,
    *VAE,
    "model.diffusion_model.label_emb.0.0.weight",
    "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight",
    "conditioner.embedders.1.model.positional_embedding",
    "conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias",
]


def shapes(keys: list[str], channels: int = 4) -> dict[str, tuple[int, ...]]:
    result = {key: (1,) for key in keys}
    if UNET[0] in result:
        result[UNET[0]] = (320, channels, 3, 3)
    return result


@pytest.mark.parametrize(
    ("keys", "family"),
    [
        (SD1, CheckpointFamily.sd1),
        (SD2, CheckpointFamily.sd2),
        (SDXL, CheckpointFamily.sdxl),
        (["conditioner.embedders.0.model.ln_final.weight", *UNET], CheckpointFamily.sdxl_refiner),
        (["model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight"], CheckpointFamily.sd3),
        (["double_blocks.0.img_attn.norm.key_norm.scale"], CheckpointFamily.flux),
        (["lora_unet_down_blocks_0_attentions_0.lora_down.weight"], CheckpointFamily.lora),
        (["unet.down_blocks.0.attentions.0.to_q.lora_A.weight"], CheckpointFamily.lora),
        (UNET, CheckpointFamily.unet),
        (["down_blocks.0.resnets.0.conv1.weight", "conv_in.weight"], CheckpointFamily.unet),
        (["encoder.conv_in.weight", "decoder.conv_out.weight"], CheckpointFamily.vae),
        (VAE, CheckpointFamily.vae),
        (["w", "b"], CheckpointFamily.unknown),
        ([], CheckpointFamily.unknown),
    ],
)
def test_classify(keys, family):
    assert classify(keys) is family


@pytest.mark.parametrize(
    ("keys", "family"),
    [(SD1, CheckpointFamily.sd1), (SD2, CheckpointFamily.sd2), (SDXL, CheckpointFamily.sdxl)],
)
def test_full_checkpoints_pass(keys, family):
    assert check_checkpoint(shapes(keys), "model.safetensors") is family


def refusal(keys: list[str], channels: int = 4) -> str:
    with pytest.raises(CheckpointError) as caught:
        check_checkpoint(shapes(keys, channels), "x.safetensors")
    message = str(caught.value)
    assert message.startswith("x.safetensors") and message.endswith(".") and "\n" not in message
    return message


def test_other_families_are_refused_in_one_sentence():
    assert refusal(["double_blocks.0.x"]) == (
        "x.safetensors holds a FLUX model, not a full SD 1.x, SD 2.x or SDXL checkpoint: pick "
        "such a checkpoint, or a diffusers model folder."
    )
    assert "holds a UNet without its VAE and text encoders" in refusal(UNET)
    assert "holds no model the studio recognises" in refusal(["w"])


def test_missing_parts_are_named():
    no_vae = [k for k in SDXL if not k.startswith("first_stage")]
    assert refusal(no_vae) == (
        "x.safetensors looks like an SDXL checkpoint but lacks its VAE weights: pick a full "
        "checkpoint."
    )
    no_text = [k for k in SDXL if not k.startswith("conditioner.embedders.0")]
    assert "lacks its text encoder (conditioner.embedders.0.transformer) weights" in refusal(
        no_text
    )


def test_inpainting_checkpoints_are_refused():
    assert "with 9 input channels (inpainting" in refusal(SD1, channels=9)


def test_config_for_families_and_choices():
    assert config_for(CheckpointFamily.sd1) == "sd15"
    assert config_for(CheckpointFamily.sd2) == "sd21"
    assert config_for(CheckpointFamily.sd2, "sd21-base") == "sd21-base"
    with pytest.raises(CheckpointError) as caught:
        config_for(CheckpointFamily.sd1, "sdxl")
    assert str(caught.value) == "The config 'sdxl' does not fit an SD 1.x checkpoint: use sd15."


def test_tensor_shapes_come_from_a_checked_header(tmp_path):
    header = {
        "a": {"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 12]},
        "b": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]},
    }
    text = json.dumps(header).encode()
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + bytes(16))
    assert tensor_shapes(path) == {"a": (2, 3), "b": (1,)}
    path.write_bytes(struct.pack("<Q", len(text)) + text + bytes(8))
    with pytest.raises(WeightsError, match="damaged safetensors"):
        tensor_shapes(path)
