"""The embedded emoji model: its UNet and noise schedule configuration."""

from __future__ import annotations

from typing import Any

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel

IMAGE_SIZE = 32
PATCH = 2
LATENT_CHANNELS = 3 * PATCH * PATCH
LATENT_SIZE = IMAGE_SIZE // PATCH
TEXT_DIM = 384

SCHEDULE_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_schedule": "squaredcos_cap_v2",
    "prediction_type": "v_prediction",
    "rescale_betas_zero_snr": True,
    "timestep_spacing": "trailing",
    "clip_sample": False,
}


BLOCK_CHANNELS = (64, 128, 128)


def unet_config() -> dict[str, Any]:
    return {
        "sample_size": LATENT_SIZE,
        "in_channels": LATENT_CHANNELS,
        "out_channels": LATENT_CHANNELS,
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        "block_out_channels": BLOCK_CHANNELS,
        "layers_per_block": 2,
        "cross_attention_dim": TEXT_DIM,
        "attention_head_dim": 8,
        "norm_num_groups": 32,
        "class_embed_type": "projection",
        "projection_class_embeddings_input_dim": TEXT_DIM,
    }


def build_unet() -> UNet2DConditionModel:
    return UNet2DConditionModel(**unet_config())


def build_scheduler() -> DDPMScheduler:
    return DDPMScheduler(**SCHEDULE_CONFIG)


def to_latents(images: torch.Tensor) -> torch.Tensor:
    """Pixels (B, 3, 32, 32) in [-1, 1] to the model's space (B, 12, 16, 16)."""
    return torch.nn.functional.pixel_unshuffle(images, PATCH)


def to_pixels(latents: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.pixel_shuffle(latents, PATCH)
