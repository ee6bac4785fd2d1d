"""Writing a trained emoji UNet as a diffusers pipeline folder (fp16 safetensors + configs)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel

from studio.engine.emoji_model import build_scheduler

MODEL_INDEX = {
    "_class_name": "EmojiPipeline",
    "_diffusers_version": "0.42.1",
    "scheduler": ["diffusers", "DDPMScheduler"],
    "text_encoder": [None, None],
    "tokenizer": [None, None],
    "unet": ["diffusers", "UNet2DConditionModel"],
}


def export_pipeline(
    unet: UNet2DConditionModel,
    folder: Path,
    scheduler_overrides=None,
    dtype: torch.dtype = torch.float16,
) -> Path:
    """Replace `folder` with a complete pipeline folder, atomically (write aside, then swap)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        copy = UNet2DConditionModel.from_config(unet.config)
        copy.load_state_dict(unet.state_dict())
        copy.to(dtype).save_pretrained(staging / "unet", safe_serialization=True)
        scheduler = build_scheduler()
        if scheduler_overrides:
            scheduler.register_to_config(**scheduler_overrides)
        scheduler.save_pretrained(staging / "scheduler")
        (staging / "model_index.json").write_text(json.dumps(MODEL_INDEX, indent=2) + "\n")
        _swap(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _swap(staging: Path, folder: Path) -> None:
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(staging, folder)
    shutil.rmtree(old, ignore_errors=True)
