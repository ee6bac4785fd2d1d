"""The models-folder scanner: folders, single files and adapters listed from their headers, with
junk, damage and unreadable files listed or skipped, never raised."""

from __future__ import annotations

import json
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from studio.core import model_library
from studio.core.manifest import MANIFEST
from studio.core.model_library import (
    EntryKind,
    LibraryEntry,
    model_name,
    scan_models_folder,
    split_model_name,
)

UNET = "model.diffusion_model."
SD1_KEYS = [
    UNET + "input_blocks.0.0.weight",
    "first_stage_model.decoder.conv_out.weight",
    "cond_stage_model.transformer.text_model.final_layer_norm.weight",
]
SD2_KEYS = [*SD1_KEYS[:2], "cond_stage_model.model.ln_final.weight"]
SDXL_KEYS = [
    *SD1_KEYS[:2],
    "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight",
    "conditioner.embedders.1.model.ln_final.weight",
]


def safetensors(path: Path, keys: list[str], dtype: str = "F16", elements: int = 4) -> Path:
    """A sound safetensors file of `keys`, zeros; the UNet's first conv has 4 input channels."""
    item = {"F16": 2, "F32": 4, "BF16": 2}[dtype]
    header: dict[str, dict[str, object]] = {}
    offset = 0
    for key in keys:
        shape = [8, 4, 3, 3] if key.endswith("input_blocks.0.0.weight") else [elements]
        size = item * int(np.prod(shape))
        header[key] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(text)) + text + bytes(offset))
    return path


def pipeline_folder(folder: Path, width: int = 768, names=("model.safetensors",)) -> Path:
    index = {
        "_class_name": "StableDiffusionPipeline",
        "unet": ["diffusers", "UNet2DConditionModel"],
    }
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps(index))
    (folder / "text_encoder").mkdir()
    (folder / "text_encoder" / "config.json").write_text(json.dumps({"hidden_size": width}))
    for name in names:
        safetensors(folder / "unet" / name, ["conv_in.weight"], elements=50)
    return folder


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    pipeline_folder(root / "sd15-diffusers")
    pipeline_folder(root / "sd21-fp16", 1024, names=("model.fp16.safetensors",))
    only_pickle = root / "pickled"
    only_pickle.mkdir(parents=True)
    (only_pickle / "model_index.json").write_text(
        json.dumps({"_class_name": "StableDiffusionPipeline"})
    )
    (only_pickle / "unet").mkdir()
    (only_pickle / "unet" / "diffusion_pytorch_model.bin").write_bytes(
        pickle.dumps({"w": 1}, protocol=2)
    )
    broken = root / "broken-index"
    broken.mkdir()
    (broken / "model_index.json").write_text("{not json")
    adapter = root / "student"
    adapter.mkdir()
    (adapter / MANIFEST).write_text(
        json.dumps({"format": 1, "base": "sd15-diffusers", "lora": "lora.safetensors"})
    )
    safetensors(adapter / "lora.safetensors", ["unet.x.lora_A.weight"])
    safetensors(root / "dreamshaper.safetensors", SD1_KEYS)
    safetensors(root / "Stable-diffusion" / "v2-1_768.safetensors", SD2_KEYS, dtype="F32")
    safetensors(
        root / "Stable-diffusion" / "sdxl" / "juggernaut.safetensors", SDXL_KEYS, dtype="BF16"
    )
    safetensors(root / "Lora" / "detail.safetensors", ["lora_unet_down.lora_up.weight"])
    safetensors(
        root / "VAE" / "vae.safetensors", ["encoder.conv_in.weight", "decoder.conv_out.weight"]
    )
    truncated = safetensors(root / "truncated.safetensors", SD1_KEYS)
    truncated.write_bytes(truncated.read_bytes()[:-10])
    (root / "old.ckpt").write_bytes(pickle.dumps({"state_dict": {}}, protocol=2))
    (root / "noise.bin").write_bytes(os.urandom(64))
    (root / "README.txt").write_text("not a model")
    (root / "empty.safetensors").write_bytes(b"")
    safetensors(root / ".cache" / "hidden.safetensors", SD1_KEYS)
    safetensors(root / "a" / "b" / "c" / "d" / "deep.safetensors", SD1_KEYS)
    (root / "loop").symlink_to(root, target_is_directory=True)
    return root


def by_name(entries: tuple[LibraryEntry, ...]) -> dict[str, LibraryEntry]:
    return {e.name: e for e in entries}


def test_the_scan_lists_models_with_family_kind_size_and_format(library):
    entries = by_name(scan_models_folder(library))
    summary = {name: (e.family, e.kind.value, e.format, e.loadable) for name, e in entries.items()}
    assert summary == {
        "broken-index": ("unknown", "folder", "unknown", False),
        "dreamshaper.safetensors": ("SD 1.x", "single file", "safetensors, fp16", True),
        "empty.safetensors": ("unknown", "single file", "unknown", False),
        "Lora/detail.safetensors": ("LoRA", "adapter", "safetensors, fp16", False),
        "noise.bin": ("unknown", "single file", "unknown", False),
        "old.ckpt": ("unknown", "single file", "pickle", False),
        "pickled": ("SD 1.x/2.x", "folder", "pickle", False),
        "sd15-diffusers": ("SD 1.x", "folder", "safetensors", True),
        "sd21-fp16": ("SD 2.x", "folder", "safetensors, fp16 variant", True),
        "Stable-diffusion/sdxl/juggernaut.safetensors": (
            "SDXL",
            "single file",
            "safetensors, bf16",
            True,
        ),
        "Stable-diffusion/v2-1_768.safetensors": (
            "SD 2.x",
            "single file",
            "safetensors, fp32",
            True,
        ),
        "student": ("student adapter", "adapter", "safetensors", True),
        "truncated.safetensors": ("unknown", "single file", "safetensors, damaged", False),
        "VAE/vae.safetensors": ("VAE", "adapter", "safetensors, fp16", False),
    }
    assert list(entries) == sorted(entries, key=str.lower)


def test_sizes_count_the_weights_that_would_load(library):
    entries = by_name(scan_models_folder(library))
    assert (
        entries["sd15-diffusers"].size_bytes
        == (library / "sd15-diffusers/unet/model.safetensors").stat().st_size
    )
    assert (
        entries["dreamshaper.safetensors"].size_bytes
        == (library / "dreamshaper.safetensors").stat().st_size
    )
    assert entries["student"].size_bytes == (library / "student/lora.safetensors").stat().st_size
    assert entries["pickled"].size_bytes == 0


def test_notes_say_why_an_entry_cannot_load(library):
    entries = by_name(scan_models_folder(library))
    assert entries["truncated.safetensors"].note.startswith("It is a damaged safetensors file:")
    assert entries["old.ckpt"].note.startswith("A pickle checkpoint, which can run code")
    assert entries["pickled"].note == "It has only pickle weights, which the studio does not load."
    assert entries["broken-index"].note == "Its model_index.json is not valid."
    assert entries["Lora/detail.safetensors"].note == (
        "A LoRA adapter: use it as the student adapter on a teacher of its family."
    )
    sd2 = entries["Stable-diffusion/v2-1_768.safetensors"]
    assert sd2.configs == ("sd21", "sd21-base") and "768 v-prediction" in sd2.note
    assert entries["dreamshaper.safetensors"].configs == ("sd15",)
    for entry in entries.values():
        assert entry.loadable or entry.note.endswith("."), entry


def test_hidden_deep_and_linked_folders_are_not_scanned(library):
    names = [e.name for e in scan_models_folder(library)]
    assert not any(".cache" in n or "deep" in n or n.startswith("loop") for n in names)


def test_a_missing_or_empty_folder_gives_nothing(tmp_path):
    assert scan_models_folder(tmp_path / "nowhere") == ()
    assert scan_models_folder(tmp_path) == ()
    file = tmp_path / "file.txt"
    file.write_text("x")
    assert scan_models_folder(file) == ()


def test_an_unreadable_file_is_listed_with_the_reason(library, monkeypatch):
    real = model_library.sniff_file

    def sniff(path: Path):
        if path.name == "dreamshaper.safetensors":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(model_library, "sniff_file", sniff)
    entry = by_name(scan_models_folder(library))["dreamshaper.safetensors"]
    assert (entry.loadable, entry.note) == (False, "It could not be read: Permission denied.")


def test_the_scan_stops_at_its_limits(library, monkeypatch):
    monkeypatch.setattr(model_library, "MAX_ENTRIES", 3)
    assert len(scan_models_folder(library)) == 3


def test_model_names_carry_a_config_choice():
    assert model_name("/m/v2.safetensors") == "/m/v2.safetensors"
    named = model_name("/m/v2.safetensors", "sd21-base")
    assert split_model_name(named) == ("/m/v2.safetensors", "sd21-base")
    assert split_model_name("emoji-teacher") == ("emoji-teacher", "")
    entry = LibraryEntry(
        name="v2.safetensors",
        path="/m/v2.safetensors",
        family="SD 2.x",
        kind=EntryKind.single_file,
        size_bytes=1,
        format="safetensors",
        loadable=True,
    )
    assert entry.model_name("sd21-base") == named
