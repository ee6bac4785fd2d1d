"""Writing trained emoji models: the teacher as a diffusers pipeline folder (fp16 safetensors
and configs), students as LoRA adapter folders on it."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel

from studio.core.manifest import MANIFEST, AdapterManifest
from studio.core.paths import models_dir
from studio.engine.emoji_model import build_scheduler
from studio.lab.compact import lora_from_delta, save_lora

MODEL_INDEX = {
    "_class_name": "EmojiPipeline",
    "_diffusers_version": "0.42.1",
    "scheduler": ["diffusers", "DDPMScheduler"],
    "text_encoder": [None, None],
    "tokenizer": [None, None],
    "unet": ["diffusers", "UNet2DConditionModel"],
}


TRAINING_RECORD = "training.json"


def read_training_record(folder: Path) -> dict:
    path = folder / TRAINING_RECORD
    return json.loads(path.read_text()) if path.is_file() else {}


def export_pipeline(
    unet: UNet2DConditionModel,
    folder: Path,
    scheduler_overrides=None,
    dtype: torch.dtype = torch.float16,
    training: dict | None = None,
) -> Path:
    """Replace `folder` with a complete pipeline folder, atomically (write aside, then swap)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    staging.chmod(0o755)
    try:
        copy = UNet2DConditionModel.from_config(unet.config)
        copy.load_state_dict(unet.state_dict())
        copy.to(dtype).save_pretrained(staging / "unet", safe_serialization=True)
        scheduler = build_scheduler()
        if scheduler_overrides:
            scheduler.register_to_config(**scheduler_overrides)
        scheduler.save_pretrained(staging / "scheduler")
        (staging / "model_index.json").write_text(json.dumps(MODEL_INDEX, indent=2) + "\n")
        if training:
            (staging / TRAINING_RECORD).write_text(json.dumps(training, indent=2) + "\n")
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


def export_adapter(
    teacher: UNet2DConditionModel,
    student: UNet2DConditionModel,
    folder: Path,
    manifest: AdapterManifest,
    rank: int,
    training: dict | None = None,
) -> Path:
    """Write a student as a LoRA adapter folder on its teacher, atomically."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    staging.chmod(0o755)
    try:
        save_lora(lora_from_delta(teacher, student, rank), staging)
        text = json.dumps(manifest.to_json(), indent=2) + "\n"
        (staging / MANIFEST).write_text(text, encoding="utf-8")
        record = {**(training or {}), "rank": rank}
        (staging / TRAINING_RECORD).write_text(json.dumps(record, indent=2) + "\n")
        _swap(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def install_model(exported: Path) -> Path:
    """Copy an exported model folder into assets/models, replacing the old one atomically."""
    target = models_dir() / exported.name
    staging = target.with_name(target.name + ".installing")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(exported, staging)
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.replace(old)
    staging.replace(target)
    shutil.rmtree(old, ignore_errors=True)
    return target
