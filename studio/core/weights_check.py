"""What a weights file holds, told from its bytes, and whether the studio may load it.

Safetensors is recognised by its header (an 8-byte little-endian length, then a JSON object)
and checked before anything loads it: a sane header length, JSON that parses, and every
tensor's data_offsets inside the file, matching its dtype and shape, with no gaps or overlaps.
Pickle-based formats (plain pickles, PyTorch zip checkpoints) are recognised by their magic
bytes and refused unless the user opted in for that one file. The file name never decides.
"""

from __future__ import annotations

import json
import math
import struct
from enum import StrEnum
from pathlib import Path
from typing import Any

from studio.core.wording import shown

MAX_HEADER_BYTES = 100_000_000
ZIP_MAGIC = b"PK\x03\x04"
PICKLE_PROTOCOLS = frozenset({2, 3, 4, 5})
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "I64": 64,
    "U64": 64,
    "F64": 64,
    "C64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}
PICKLE_RISK = "a pickle format that can run code when loaded"
OPT_IN = "convert it to safetensors, or allow pickle for this one file (--allow-pickle)"


class WeightsFormat(StrEnum):
    """What a weights file's bytes say it is."""

    safetensors = "safetensors"
    pickle = "pickle"
    torch_zip = "torch_zip"
    unknown = "unknown"

    @property
    def is_pickle(self) -> bool:
        return self in {WeightsFormat.pickle, WeightsFormat.torch_zip}


class WeightsError(ValueError):
    """A weights file the studio will not load, in one sentence naming the file."""


def sniff(head: bytes) -> WeightsFormat:
    """The format of a file from its first bytes (at least 9 for safetensors)."""
    if head.startswith(ZIP_MAGIC):
        return WeightsFormat.torch_zip
    if len(head) >= 9 and head[8:9] == b"{":
        return WeightsFormat.safetensors
    if len(head) >= 2 and head[0] == 0x80 and head[1] in PICKLE_PROTOCOLS:
        return WeightsFormat.pickle
    return WeightsFormat.unknown


def sniff_file(path: Path) -> WeightsFormat:
    with open(path, "rb") as handle:
        return sniff(handle.read(16))


def _tensor_bytes(name: str, info: object) -> tuple[int, int, int]:
    """(begin, end, expected size) of one tensor entry, or the reason it is malformed."""
    if not isinstance(info, dict):
        raise ValueError(f"tensor {shown(name, 60)} is not described by a JSON object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise ValueError(f"tensor {shown(name, 60)} has an unknown dtype {shown(dtype)}")
    if not isinstance(shape, list) or not all(_is_count(n) for n in shape):
        raise ValueError(f"tensor {shown(name, 60)} has an invalid shape {shown(shape)}")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(map(_is_count, offsets)):
        raise ValueError(f"tensor {shown(name, 60)} has invalid data_offsets {shown(offsets)}")
    bits = math.prod(shape) * DTYPE_BITS[dtype]
    if bits % 8:
        raise ValueError(f"tensor {shown(name, 60)} does not fill a whole number of bytes")
    return offsets[0], offsets[1], bits // 8


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_layout(tensors: dict[str, Any], data_bytes: int) -> None:
    """Every tensor inside the data, sized by dtype x shape, back to back with no gaps."""
    spans = sorted((*_tensor_bytes(name, info), name) for name, info in tensors.items())
    position = 0
    for begin, end, expected, name in spans:
        if end < begin or end > data_bytes:
            raise ValueError(
                f"tensor {shown(name, 60)} lies outside the file (bytes {shown(begin)}-"
                f"{shown(end)} of {data_bytes}; truncated?)"
            )
        if end - begin != expected:
            raise ValueError(
                f"tensor {shown(name, 60)} has {shown(end - begin)} bytes but its dtype and "
                f"shape need {shown(expected)}"
            )
        if begin != position:
            raise ValueError(f"tensor {shown(name, 60)} overlaps another or leaves a gap before it")
        position = end
    if position != data_bytes:
        raise ValueError(f"{data_bytes - position} bytes follow the last tensor")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("its header names a key twice")
    return result


def _parse_header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
    except UnicodeDecodeError as exc:
        raise ValueError("its header is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise ValueError("its header is not valid JSON") from exc
    except RecursionError as exc:
        raise ValueError("its header is nested too deeply") from exc
    if not isinstance(header, dict):
        raise ValueError("its header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError("its __metadata__ is not a map of strings")
    return header


def _read_header(path: Path) -> tuple[dict[str, Any], int]:
    """The tensor entries of the header and the size of the data after it."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise ValueError("it is shorter than the 8-byte header length")
        (length,) = struct.unpack("<Q", prefix)
        if length < 2 or length > MAX_HEADER_BYTES:
            raise ValueError(f"its header length ({length} bytes) is not plausible")
        if 8 + length > size:
            raise ValueError(f"its header length ({length} bytes) runs past the end of the file")
        raw = handle.read(length)
    return _parse_header(raw), size - 8 - length


def checked_header(path: Path, name: str | None = None) -> dict[str, dict[str, Any]]:
    """The tensor entries (dtype, shape, data_offsets) of a sound safetensors file's header;
    WeightsError when the file is damaged."""
    label = name or path.name
    try:
        tensors, data_bytes = _read_header(path)
        _check_layout(tensors, data_bytes)
    except ValueError as exc:
        raise WeightsError(f"{label} is a damaged safetensors file: {exc}.") from exc
    except OSError as exc:
        raise WeightsError(f"{label} could not be read: {exc.strerror or exc}.") from exc
    return tensors


def tensor_shapes(path: Path, name: str | None = None) -> dict[str, tuple[int, ...]]:
    """Each tensor's shape in a sound safetensors file, read from its header alone."""
    return {key: tuple(info["shape"]) for key, info in checked_header(path, name).items()}


def check_safetensors(path: Path, name: str | None = None) -> int:
    """The number of tensors in a sound safetensors file; WeightsError when it is damaged."""
    return len(tensor_shapes(path, name))


def describe_format(kind: WeightsFormat) -> str:
    """The format in words, for messages: 'a pickle format that can run code when loaded'."""
    if kind is WeightsFormat.torch_zip:
        return f"a PyTorch zip checkpoint, {PICKLE_RISK}"
    if kind is WeightsFormat.pickle:
        return PICKLE_RISK
    if kind is WeightsFormat.safetensors:
        return "safetensors"
    return "in no weights format the studio recognises"


def check_weights_file(
    path: Path, *, allow_pickle: bool = False, name: str | None = None
) -> WeightsFormat:
    """The file's format once it is safe to hand on; WeightsError says why it is not.

    Safetensors must pass the header check; pickle formats need `allow_pickle` (the user's
    opt-in for this one file), and then only torch.load(weights_only=True) may read them.
    """
    label = name or path.name
    if not path.is_file():
        raise WeightsError(f"The weights file {label} does not exist.")
    try:
        kind = sniff_file(path)
    except OSError as exc:
        raise WeightsError(f"{label} could not be read: {exc.strerror or exc}.") from exc
    if kind is WeightsFormat.safetensors:
        check_safetensors(path, label)
    elif kind.is_pickle and not allow_pickle:
        raise WeightsError(
            f"{label} is {describe_format(kind)}, so the studio refuses it: {OPT_IN}."
        )
    elif kind is WeightsFormat.unknown:
        raise WeightsError(
            f"{label} is not a safetensors file, nor any weights format the studio recognises."
        )
    return kind
