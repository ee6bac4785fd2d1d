"""Weights files told by content: safetensors headers checked, pickles refused unless allowed."""

from __future__ import annotations

import json
import pickle
import struct
import zipfile
from pathlib import Path

import pytest

from studio.core.weights_check import (
    WeightsError,
    WeightsFormat,
    check_safetensors,
    check_weights_file,
    sniff,
    sniff_file,
)

TWO_TENSORS = {
    "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
    "b": {"dtype": "F16", "shape": [4], "data_offsets": [24, 32]},
    "__metadata__": {"format": "pt"},
}


def safetensors_bytes(header: object, data: bytes = bytes(32), raw: bytes | None = None) -> bytes:
    text = raw if raw is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def refusal(path: Path, **kwargs: bool) -> str:
    with pytest.raises(WeightsError) as caught:
        check_weights_file(path, **kwargs)
    message = str(caught.value)
    assert path.name in message and message.endswith(".") and "\n" not in message
    return message


def test_sound_safetensors_passes(tmp_path):
    path = write(tmp_path, "model.safetensors", safetensors_bytes(TWO_TENSORS))
    assert check_weights_file(path) is WeightsFormat.safetensors
    assert check_safetensors(path) == 2


def test_empty_safetensors_passes(tmp_path):
    path = write(tmp_path, "empty.safetensors", safetensors_bytes({}, b""))
    assert check_safetensors(path) == 0


def test_safetensors_is_known_by_content_whatever_its_name(tmp_path):
    path = write(tmp_path, "weights.bin", safetensors_bytes(TWO_TENSORS))
    assert check_weights_file(path) is WeightsFormat.safetensors


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_pickles_are_sniffed(protocol):
    assert sniff(pickle.dumps({"w": [1.0]}, protocol=protocol)) is WeightsFormat.pickle


def test_zip_checkpoints_are_sniffed(tmp_path):
    path = tmp_path / "model.safetensors"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({}))
    assert sniff_file(path) is WeightsFormat.torch_zip
    assert "PyTorch zip checkpoint" in refusal(path)


def test_pickle_renamed_to_safetensors_is_refused(tmp_path):
    path = write(tmp_path, "model.safetensors", pickle.dumps({"w": 1}, protocol=4))
    message = refusal(path)
    assert message == (
        "model.safetensors is a pickle format that can run code when loaded, so the studio "
        "refuses it: convert it to safetensors, or allow pickle for this one file "
        "(--allow-pickle)."
    )


def test_pickle_passes_the_check_only_with_the_opt_in(tmp_path):
    path = write(tmp_path, "model.ckpt", pickle.dumps({"w": 1}, protocol=2))
    assert check_weights_file(path, allow_pickle=True) is WeightsFormat.pickle


def test_unknown_content_is_refused_even_with_the_opt_in(tmp_path):
    path = write(tmp_path, "model.bin", b"GGUF\x03\x00\x00\x00 not weights we know")
    assert "nor any weights format" in refusal(path, allow_pickle=True)


def test_missing_file(tmp_path):
    assert refusal(tmp_path / "nope.safetensors") == (
        "The weights file nope.safetensors does not exist."
    )


def test_name_overrides_the_label(tmp_path):
    path = write(tmp_path, "x.safetensors", b"\x80\x04junk")
    with pytest.raises(WeightsError, match=r"^unet/x.safetensors is a pickle"):
        check_weights_file(path, name="unet/x.safetensors")


def shifted(offsets: list[int]) -> dict[str, object]:
    return {"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": offsets}}


DAMAGED = {
    "absurd header length": (struct.pack("<Q", 2**63) + b"{}", "is not plausible"),
    "header past the end": (struct.pack("<Q", 4096) + b'{"a": 1}', "runs past the end"),
    "header not JSON": (safetensors_bytes(None, b"", raw=b"{not json"), "not valid JSON"),
    "header not UTF-8": (safetensors_bytes(None, b"", raw=b'{"\xff": 1}'), "not UTF-8"),
    "header a list": (safetensors_bytes(None, b"", raw=b"{}[]"), "not valid JSON"),
    "duplicate keys": (
        safetensors_bytes(None, bytes(24), raw=b'{"a": {}, "a": {}}'),
        "names a key twice",
    ),
    "metadata not strings": (safetensors_bytes({"__metadata__": {"n": 1}}, b""), "__metadata__"),
    "tensor not an object": (safetensors_bytes({"a": [1, 2]}, b""), "not described"),
    "unknown dtype": (
        safetensors_bytes({"a": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 1]}}, b"x"),
        "unknown dtype 'Q7'",
    ),
    "negative shape": (
        safetensors_bytes({"a": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 0]}}, b""),
        "invalid shape",
    ),
    "boolean shape": (
        safetensors_bytes({"a": {"dtype": "U8", "shape": [True], "data_offsets": [0, 1]}}, b"x"),
        "invalid shape",
    ),
    "one offset": (safetensors_bytes(shifted([24]), bytes(24)), "invalid data_offsets"),
    "offsets out of range": (
        safetensors_bytes(shifted([0, 10**12]), bytes(24)),
        "lies outside the file",
    ),
    "offsets reversed": (safetensors_bytes(shifted([24, 0]), bytes(24)), "lies outside"),
    "size not dtype x shape": (
        safetensors_bytes(shifted([0, 20]), bytes(20)),
        "has 20 bytes but its dtype and shape need 24",
    ),
    "gap before a tensor": (safetensors_bytes(shifted([8, 32]), bytes(32)), "leaves a gap"),
    "overlapping tensors": (
        safetensors_bytes(
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
            },
            bytes(12),
        ),
        "overlaps another",
    ),
    "header nested too deeply": (
        safetensors_bytes(None, b"", raw=b"{" + b'"a":{' * 5000 + b"}" * 5001),
        "nested too deeply",
    ),
    "bytes after the last tensor": (safetensors_bytes(TWO_TENSORS, bytes(40)), "8 bytes follow"),
}


@pytest.mark.parametrize("content,reason", DAMAGED.values(), ids=DAMAGED.keys())
def test_damaged_safetensors_are_refused(tmp_path, content, reason):
    path = write(tmp_path, "model.safetensors", content)
    message = refusal(path, allow_pickle=True)
    assert message.startswith("model.safetensors is a damaged safetensors file: ")
    assert reason in message


def test_safetensors_cut_in_the_middle_of_its_data_is_refused(tmp_path):
    whole = safetensors_bytes(TWO_TENSORS)
    path = write(tmp_path, "model.safetensors", whole[: len(whole) - 4])
    message = refusal(path)
    assert "tensor 'b' lies outside the file (bytes 24-32 of 28; truncated?)" in message


def test_a_file_too_short_for_a_header(tmp_path):
    path = write(tmp_path, "model.safetensors", b"\x05\x00\x00")
    assert "is not a safetensors file" in refusal(path)
    with pytest.raises(WeightsError, match="shorter than the 8-byte header length"):
        check_safetensors(path)
