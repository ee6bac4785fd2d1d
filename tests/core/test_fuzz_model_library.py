"""Fuzzing the models-folder scanner with random trees of hostile files.

Folders hold model indexes, text-encoder configs and adapter manifests of hostile JSON, and
weights files whose safetensors headers are mutated (wrong types, huge numbers, overlaps, deep
nesting), pickles, zips and junk, nested a few levels deep beside hidden folders and links.
The scan must finish in bounded time and list each thing it found with a short note, or skip
it; it never raises.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studio.core.manifest import MANIFEST, AdapterManifest
from studio.core.model_library import MAX_ENTRIES, LibraryEntry, scan_models_folder
from tests.fuzzing import (
    HOSTILE_BYTES,
    HOSTILE_TEXTS,
    fuzz_settings,
    json_texts,
    json_values,
    mutate_dict,
    within,
)

MAX_NOTE_CHARS = 600
SD1_KEYS = (
    "model.diffusion_model.input_blocks.0.0.weight",
    "first_stage_model.decoder.conv_out.weight",
    "cond_stage_model.transformer.text_model.final_layer_norm.weight",
    "lora_unet_down_blocks_0.lora_down.weight",
)
INDEX = {"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}
CONFIG = {"hidden_size": 768, "architectures": ["CLIPTextModel"]}
MANIFEST_JSON = AdapterManifest(base="teacher", lora="lora.safetensors").to_json()
FOLDERS = st.lists(
    st.sampled_from(["a", "b", ".hidden", "unet", "text_encoder", "deep"]), max_size=4
)


def tensor_info(offset: int) -> dict[str, Any]:
    return {"dtype": "F16", "shape": [8, 4, 3, 3], "data_offsets": [offset, offset + 576]}


@st.composite
def safetensors_bytes(draw: st.DrawFn) -> bytes:
    """A safetensors file whose header (or length prefix, or data) has been tampered with."""
    keys = draw(st.lists(st.sampled_from(SD1_KEYS), min_size=1, max_size=4, unique=True))
    header: dict[str, Any] = {k: tensor_info(i * 576) for i, k in enumerate(keys)}
    if draw(st.booleans()):
        key = draw(st.sampled_from(keys))
        header[key] = draw(mutate_dict(header[key]) | json_values(6))
    if draw(st.booleans()):
        header["__metadata__"] = draw(json_values(4))
    text = json.dumps(header).encode()
    text = draw(st.sampled_from([text, *[t.encode() for t in HOSTILE_TEXTS[4:]]]))
    length = draw(st.sampled_from([len(text), 0, 1, 2**64 - 1, 200_000_000, len(text) + 5]))
    data = bytes(576 * len(keys) + draw(st.sampled_from([0, 0, 1, -1])))
    return struct.pack("<Q", length) + text + data


WEIGHTS = st.one_of(
    safetensors_bytes(),
    st.sampled_from([b"", b"PK\x03\x04junk", b"\x80\x04\x95junk", b"\x80\x02}q\x00."]),
    st.binary(max_size=40),
)
FILES = st.one_of(
    st.tuples(st.just("model_index.json"), json_texts(mutate_dict(INDEX) | json_values())),
    st.tuples(st.just("text_encoder/config.json"), json_texts(mutate_dict(CONFIG))),
    st.tuples(st.just(MANIFEST), json_texts(mutate_dict(MANIFEST_JSON) | json_values())),
    st.tuples(
        st.sampled_from(
            ["m.safetensors", "m.ckpt", "unet/w.safetensors", "x.bin", "w.fp16.safetensors"]
        ),
        WEIGHTS,
    ),
)


def build(root: Path, specs: list[tuple[list[str], tuple[str, bytes]]], links: bool) -> None:
    for folders, (name, content) in specs:
        path = root.joinpath(*folders, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    if links:
        (root / "loop").symlink_to(root, target_is_directory=True)
        os.mkfifo(root / "pipe.safetensors")
        (root / "dangling.ckpt").symlink_to(root / "nowhere")


def check_entries(entries: tuple[LibraryEntry, ...]) -> None:
    assert len(entries) <= MAX_ENTRIES
    for entry in entries:
        assert isinstance(entry.loadable, bool) and entry.size_bytes >= 0
        assert len(entry.note) <= MAX_NOTE_CHARS, entry.note[:200]
        assert not entry.name.startswith(".") and "/.hidden" not in entry.name


@fuzz_settings(0.5)
@given(specs=st.lists(st.tuples(FOLDERS, FILES), max_size=8), links=st.booleans())
def test_any_models_folder_scans_without_raising(
    specs: list[tuple[list[str], tuple[str, bytes]]], links: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        build(root, specs, links)
        with within():
            entries = scan_models_folder(root)
    check_entries(entries)


@fuzz_settings()
@given(content=safetensors_bytes())
def test_any_single_weights_file_is_listed_with_a_short_note(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "model.safetensors").write_bytes(content)
        with within():
            entries = scan_models_folder(Path(folder))
    assert len(entries) == 1
    check_entries(entries)


HOSTILE = [t.encode("utf-8") for t in HOSTILE_TEXTS] + HOSTILE_BYTES


@pytest.mark.parametrize("name", ["model_index.json", "text_encoder/config.json", MANIFEST])
def test_each_hostile_json_file_in_a_model_folder_is_listed_or_skipped(tmp_path: Path, name: str):
    for number, raw in enumerate(HOSTILE):
        folder = tmp_path / f"model-{number}"
        (folder / "text_encoder").mkdir(parents=True)
        if name != MANIFEST:
            (folder / "model_index.json").write_text(json.dumps(INDEX))
        (folder / "unet").mkdir()
        (folder / "unet" / "w.safetensors").write_bytes(b"")
        (folder / name).write_bytes(raw)
    with within():
        entries = scan_models_folder(tmp_path)
    assert len(entries) == len(HOSTILE)
    check_entries(entries)
