"""A corpus of hostile and broken weights files: every one refused in one sentence, no side effect.

Pickles that would run code hide under safe-looking names; safetensors files are truncated,
bit-flipped or carry absurd headers. Each is offered as a single-file model, with and without
the pickle opt-in, and must be refused before anything could run.
"""

from __future__ import annotations

import builtins
import json
import os
import pickle
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from studio.core.models import ModelRef, ModelSource
from studio.engine.loading import ModelLoadError, load_pipeline

MARKER = "STUDIO_HOSTILE_MARKER"


class Payload:
    """Unpickles to a call of `func(*args)`: what a hostile checkpoint would run."""

    def __init__(self, func: Callable[..., Any], *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[object, ...]]:
        return (self.func, self.args)


def payloads(marker: Path) -> dict[str, Payload]:
    touch = f"touch {marker}"
    return {
        "os.system": Payload(os.system, touch),
        "exec": Payload(builtins.exec, f"open({str(marker)!r}, 'w').close()"),
        "eval": Payload(builtins.eval, f"open({str(marker)!r}, 'w')"),
        "popen": Payload(subprocess.Popen, ["touch", str(marker)]),
        "getattr": Payload(getattr, Payload(builtins.__import__, "os"), "system"),
    }


def sound_safetensors(path: Path) -> bytes:
    save_file({"a": torch.ones(2, 3), "b": torch.zeros(4, dtype=torch.float16)}, path)
    return path.read_bytes()


def with_header(raw: bytes, edit: Callable[[dict[str, Any]], object]) -> bytes:
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    edit(header)
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + raw[8 + length :]


def flipped(raw: bytes, index: int, bit: int = 0x10) -> bytes:
    out = bytearray(raw)
    out[index] ^= bit
    return bytes(out)


def header_of(text: bytes, data: bytes = b"") -> bytes:
    return struct.pack("<Q", len(text)) + text + data


def pickles(folder: Path, marker: Path) -> dict[str, Path]:
    """Pickles with side effects, in every format, under safe-looking names."""
    files: dict[str, Path] = {}
    names = ["model.safetensors", "unet.ckpt", "lora.bin", "vae.pt", "weights.pth"]
    for (label, payload), name in zip(payloads(marker).items(), names, strict=True):
        files[f"{label} zip as {name}"] = folder / f"zip-{label}-{name}"
        torch.save({"w": torch.ones(1), "x": payload}, files[f"{label} zip as {name}"])
        legacy = folder / f"legacy-{label}-{name}"
        torch.save({"x": payload}, legacy, _use_new_zipfile_serialization=False)
        files[f"{label} legacy as {name}"] = legacy
    for protocol in range(6):
        path = folder / f"proto{protocol}-diffusion_pytorch_model.safetensors"
        path.write_bytes(pickle.dumps({"w": payloads(marker)["os.system"]}, protocol=protocol))
        files[f"protocol {protocol} pickle"] = path
    return files


def broken_safetensors(folder: Path) -> dict[str, bytes]:
    raw = sound_safetensors(folder / "sound.safetensors")
    (length,) = struct.unpack("<Q", raw[:8])
    data_start = 8 + length
    return {
        "empty file": b"",
        "length only": raw[:8],
        "cut in the header": raw[: 8 + length // 2],
        "cut at the data": raw[:data_start],
        "cut in the middle of the data": raw[: data_start + 12],
        "one byte short": raw[:-1],
        "one byte long": raw + b"\x00",
        "length bit-flipped up": flipped(raw, 1, 0x40),
        "length bit-flipped down": flipped(raw, 0, 0x01),
        "brace bit-flipped": flipped(raw, 8, 0x01),
        "quote bit-flipped": flipped(raw, 9, 0x01),
        "absurd length": struct.pack("<Q", 2**64 - 1) + raw[8:],
        "length past the end": struct.pack("<Q", len(raw)) + raw[8:],
        "zero-length header": header_of(b""),
        "header null": header_of(b"null"),
        "header a list": header_of(b"[]  "),
        "header a number in braces": header_of(b"{1}"),
        "offsets far out of range": with_header(
            raw, lambda h: h["a"].update(data_offsets=[0, 2**62])
        ),
        "negative offset": with_header(raw, lambda h: h["a"].update(data_offsets=[-24, 0])),
        "shape lies": with_header(raw, lambda h: h["a"].update(shape=[2, 3, 1000])),
        "huge shape": with_header(raw, lambda h: h["a"].update(shape=[2**40, 2**40])),
        "dtype lies": with_header(raw, lambda h: h["b"].update(dtype="F64")),
        "unknown dtype": with_header(raw, lambda h: h["a"].update(dtype="PYOBJECT")),
        "string shape": with_header(raw, lambda h: h["a"].update(shape="2,3")),
        "float offsets": with_header(raw, lambda h: h["a"].update(data_offsets=[0.0, 24.0])),
        "overlapping tensors": with_header(raw, lambda h: h["b"].update(data_offsets=[16, 24])),
        "tensor added over the others": with_header(
            raw, lambda h: h.update(c={"dtype": "U8", "shape": [8], "data_offsets": [0, 8]})
        ),
        "metadata not strings": with_header(raw, lambda h: h.update(__metadata__={"x": [1]})),
        "deeply nested header": header_of(b"{" + b'"a":{' * 5000 + b"}" * 5001),
        "not weights at all": b"GGUF\x03\x00\x00\x00" + bytes(64),
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], Path]:
    folder = tmp_path_factory.mktemp("hostile")
    marker = folder / MARKER
    files = pickles(folder, marker)
    for label, content in broken_safetensors(folder).items():
        path = folder / f"{label.replace(' ', '-')}.safetensors"
        path.write_bytes(content)
        files[label] = path
    return files, marker


def test_the_corpus_is_large_enough(corpus):
    files, _ = corpus
    assert len(files) >= 30


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("allow_pickle", [False, True])
def test_every_hostile_file_is_refused_with_no_side_effect(corpus, allow_pickle):
    files, marker = corpus
    for label, path in files.items():
        ref = ModelRef(location=str(path), source=ModelSource.file, allow_pickle=allow_pickle)
        with pytest.raises(ModelLoadError) as caught:
            load_pipeline(ref)
        message = str(caught.value)
        assert path.name in message, (label, message)
        assert message.endswith(".") and "\n" not in message, (label, message)
    assert not marker.exists()
