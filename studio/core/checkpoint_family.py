"""Which model a single weights file holds, told from its tensor names and shapes alone.

Original (CompVis / Stability "LDM" and "SGM") checkpoints put each part under a prefix:
the UNet under `model.diffusion_model.`, the VAE under `first_stage_model.`, and the text
encoders under `cond_stage_model.transformer.` (SD 1.x, OpenAI CLIP),
`cond_stage_model.model.` (SD 2.x, OpenCLIP) or `conditioner.embedders.N.` (SDXL). Whether an
SD 2.x checkpoint predicts v (the 768 models) or noise (the 512 "base" models) is not in the
keys, so it gets a default config and a choice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum

UNET = "model.diffusion_model."
VAE = "first_stage_model."
LATENT_CHANNELS = 4
UNET_INPUT = UNET + "input_blocks.0.0.weight"


class CheckpointFamily(StrEnum):
    """The model family of a single weights file."""

    sd1 = "sd1"
    sd2 = "sd2"
    sdxl = "sdxl"
    sdxl_refiner = "sdxl_refiner"
    sd3 = "sd3"
    flux = "flux"
    lora = "lora"
    unet = "unet"
    vae = "vae"
    unknown = "unknown"

    @property
    def label(self) -> str:
        return FAMILY_LABELS[self]


FAMILY_LABELS = {
    CheckpointFamily.sd1: "SD 1.x",
    CheckpointFamily.sd2: "SD 2.x",
    CheckpointFamily.sdxl: "SDXL",
    CheckpointFamily.sdxl_refiner: "SDXL refiner",
    CheckpointFamily.sd3: "SD3",
    CheckpointFamily.flux: "FLUX",
    CheckpointFamily.lora: "LoRA",
    CheckpointFamily.unet: "UNet only",
    CheckpointFamily.vae: "VAE",
    CheckpointFamily.unknown: "unknown",
}
TEXT_ENCODERS: dict[CheckpointFamily, tuple[str, ...]] = {
    CheckpointFamily.sd1: ("cond_stage_model.transformer.",),
    CheckpointFamily.sd2: ("cond_stage_model.model.",),
    CheckpointFamily.sdxl: (
        "conditioner.embedders.0.transformer.",
        "conditioner.embedders.1.model.",
    ),
}
DEFAULT_CONFIGS = {
    CheckpointFamily.sd1: "sd15",
    CheckpointFamily.sd2: "sd21",
    CheckpointFamily.sdxl: "sdxl",
}
CONFIG_CHOICES: dict[CheckpointFamily, tuple[str, ...]] = {
    CheckpointFamily.sd1: ("sd15",),
    CheckpointFamily.sd2: ("sd21", "sd21-base"),
    CheckpointFamily.sdxl: ("sdxl",),
}
CONFIG_LABELS = {
    "sd15": "SD 1.x, 512 px",
    "sd21": "SD 2.x 768, v-prediction",
    "sd21-base": "SD 2.x base 512, noise prediction",
    "sdxl": "SDXL base, 1024 px",
}
CONTENTS = {
    CheckpointFamily.sdxl_refiner: "an SDXL refiner",
    CheckpointFamily.sd3: "an SD3 model",
    CheckpointFamily.flux: "a FLUX model",
    CheckpointFamily.lora: "a LoRA adapter",
    CheckpointFamily.unet: "a UNet without its VAE and text encoders",
    CheckpointFamily.vae: "a VAE alone",
    CheckpointFamily.unknown: "no model the studio recognises",
}
LORA_MARKERS = ("lora_up", "lora_down", "lora_A", "lora_B", ".alpha")
DIFFUSERS_UNET_MARKERS = ("down_blocks.0.", "conv_in.weight")


class CheckpointError(ValueError):
    """A single weights file the studio cannot load as a pipeline, in one sentence."""


def _has_prefix(keys: Sequence[str], prefix: str) -> bool:
    return any(key.startswith(prefix) for key in keys)


def _has_part(keys: Sequence[str], part: str) -> bool:
    return any(part in key for key in keys)


def classify(names: Sequence[str]) -> CheckpointFamily:
    """The family of a file from its tensor names (never raises: `unknown` when unsure)."""
    keys = list(names)
    if _has_part(keys, "double_blocks.0."):
        return CheckpointFamily.flux
    if _has_part(keys, "joint_blocks.0."):
        return CheckpointFamily.sd3
    if _has_prefix(keys, "conditioner.embedders.1.model."):
        return CheckpointFamily.sdxl
    if _has_prefix(keys, "conditioner.embedders.0.model."):
        return CheckpointFamily.sdxl_refiner
    if _has_prefix(keys, "cond_stage_model.model."):
        return CheckpointFamily.sd2
    if _has_prefix(keys, "cond_stage_model.transformer."):
        return CheckpointFamily.sd1
    if any(marker in key for key in keys for marker in LORA_MARKERS):
        return CheckpointFamily.lora
    if _has_prefix(keys, UNET) or any(k.startswith(DIFFUSERS_UNET_MARKERS) for k in keys):
        return CheckpointFamily.unet
    if _has_prefix(keys, VAE) or all(_has_prefix(keys, p) for p in ("encoder.", "decoder.")):
        return CheckpointFamily.vae
    return CheckpointFamily.unknown


def _missing_parts(keys: Sequence[str], family: CheckpointFamily) -> list[str]:
    parts = {"UNet": UNET, "VAE": VAE}
    parts |= {f"text encoder ({p.rstrip('.')})": p for p in TEXT_ENCODERS[family]}
    return [part for part, prefix in parts.items() if not _has_prefix(keys, prefix)]


def check_checkpoint(shapes: Mapping[str, Sequence[int]], name: str) -> CheckpointFamily:
    """The family of a full SD 1.x / 2.x / SDXL checkpoint; CheckpointError when it is none."""
    keys = list(shapes)
    family = classify(keys)
    if family not in TEXT_ENCODERS:
        raise CheckpointError(
            f"{name} holds {CONTENTS[family]}, not a full SD 1.x, SD 2.x or SDXL checkpoint: "
            "pick such a checkpoint, or a diffusers model folder."
        )
    missing = _missing_parts(keys, family)
    if missing:
        raise CheckpointError(
            f"{name} looks like an {family.label} checkpoint but lacks its "
            f"{' and '.join(missing)} weights: pick a full checkpoint."
        )
    channels = shapes.get(UNET_INPUT, (0, LATENT_CHANNELS))
    if len(channels) > 1 and channels[1] != LATENT_CHANNELS:
        raise CheckpointError(
            f"{name} is an {family.label} model with {channels[1]} input channels (inpainting "
            "or image editing), which the studio does not run: pick a text-to-image checkpoint."
        )
    return family


def config_for(family: CheckpointFamily, choice: str = "") -> str:
    """The shipped config name for a family: `choice` when it fits, else the default."""
    if not choice:
        return DEFAULT_CONFIGS[family]
    if choice not in CONFIG_CHOICES.get(family, ()):
        fitting = ", ".join(CONFIG_CHOICES.get(family, ()))
        raise CheckpointError(
            f"The config {choice!r} does not fit an {family.label} checkpoint: use {fitting}."
        )
    return choice
