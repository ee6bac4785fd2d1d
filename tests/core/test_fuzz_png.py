"""Fuzzing the PNG metadata reader: mutated files, built chunk by chunk or byte by byte.

Files hold huge and compressed text chunks (zTXt/iTXt bombs), decompression-bomb headers
(IHDR far past Pillow's MAX_IMAGE_PIXELS), bad UTF-8, bad CRCs, repeated and misplaced chunks.
`read_parameters` must return the text or None, or raise MetadataError naming the file, in
bounded time; the gallery's `read_item` must never raise; whatever text comes back parses or
raises MetadataError.
"""

from __future__ import annotations

import contextlib
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st
from PIL import Image

from studio.core.gallery import read_item
from studio.core.metadata import MAX_PARAMETERS_CHARS, MetadataError, parse_parameters
from studio.core.pngio import read_parameters, write_png
from tests.fuzzing import fuzz_settings, within

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT = "a lighthouse\nSteps: 4, Sampler: Euler, CFG scale: 1.0, Seed: 7, Size: 8x8"
IMAGE = np.zeros((8, 8, 3), np.uint8)
BOMB_SIDE = 2**31 - 1
KEYS = st.sampled_from([b"parameters", b"Comment", b"", b"p" * 79, b"p" * 200, b"param\x00eters"])


def chunk(kind: bytes, data: bytes, *, good_crc: bool = True) -> bytes:
    crc = zlib.crc32(kind + data) if good_crc else 0xDEADBEEF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def ihdr(width: int, height: int, depth: int = 8, colour: int = 2) -> bytes:
    return chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))


def _text_body(draw: st.DrawFn) -> bytes:
    size = draw(st.sampled_from([0, 10, 1000, MAX_PARAMETERS_CHARS, MAX_PARAMETERS_CHARS + 1]))
    size = draw(st.sampled_from([size, 2_000_000]) if draw(st.booleans()) else st.just(size))
    filler = draw(st.sampled_from([b"x", b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x00", b"a"]))
    return (TEXT.encode() + filler * size)[: max(size, 1)]


@st.composite
def text_chunks(draw: st.DrawFn) -> bytes:
    """A tEXt, zTXt or iTXt chunk: plain, compressed (bombs too), with bad UTF-8 or CRC."""
    key, body = draw(KEYS), _text_body(draw)
    kind = draw(st.sampled_from([b"tEXt", b"zTXt", b"iTXt", b"iTXt-z"]))
    method = bytes([draw(st.sampled_from([0, 0, 1, 255]))])
    packed = zlib.compress(body, 9)
    if draw(st.booleans()):
        packed = packed[: draw(st.integers(0, len(packed)))]
    if kind == b"tEXt":
        data = key + b"\x00" + body
    elif kind == b"zTXt":
        data = key + b"\x00" + method + packed
    elif kind == b"iTXt":
        data = key + b"\x00\x00" + method + b"en\x00" + b"\xff\xfe\x00" + body
    else:
        kind, data = b"iTXt", key + b"\x00\x01" + method + b"\x00\x00" + packed
    return chunk(kind, data, good_crc=draw(st.booleans() | st.just(True)))


@st.composite
def built_pngs(draw: st.DrawFn) -> bytes:
    """A PNG put together chunk by chunk, with hostile sizes, text and order."""
    width = draw(st.sampled_from([0, 1, 8, 60000, BOMB_SIDE, 2**32 - 1]))
    height = draw(st.sampled_from([0, 1, 8, 60000, BOMB_SIDE]))
    depth, colour = draw(st.sampled_from([(8, 2), (8, 6), (16, 2), (1, 0), (7, 9)]))
    before = draw(st.lists(text_chunks(), max_size=3))
    after = draw(st.lists(text_chunks(), max_size=2))
    pixels = draw(st.sampled_from([b"", zlib.compress(b"\x00" * 1_000_000), b"\x78\x9c"]))
    parts = [PNG_SIGNATURE, ihdr(width, height, depth, colour), *before]
    parts += [chunk(b"IDAT", pixels), *after, chunk(b"IEND", b"")]
    data = b"".join(parts)
    cut = draw(st.sampled_from([len(data), len(data) - 12, len(data) // 2, 20, 8]))
    return data[:cut]


def _valid_png() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return write_png(Path(folder) / "v.png", IMAGE, TEXT).read_bytes()


VALID_PNG = _valid_png()


@st.composite
def mutated_pngs(draw: st.DrawFn) -> bytes:
    """A valid studio PNG with a few bytes flipped, inserted, deleted or cut."""
    data = bytearray(VALID_PNG)
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["set", "insert", "delete", "cut", "length"]))
        if op == "set":
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "cut":
            del data[at:]
        elif at + 4 <= len(data):
            data[at : at + 4] = struct.pack(">I", draw(st.sampled_from([0, 2**31 - 1, 2**32 - 1])))
    return bytes(data)


def check_reader(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed.png"
        path.write_bytes(raw)
        with within():
            try:
                text = read_parameters(path)
            except MetadataError as exc:
                assert str(exc).startswith("fuzzed.png ") or "parameters text in fuzzed.png" in str(
                    exc
                )
                text = None
            item = read_item(path)
        if text is None:
            return
        assert len(text) <= MAX_PARAMETERS_CHARS
        assert item is not None and item.parameters == text
        with within(), contextlib.suppress(MetadataError):
            parse_parameters(text)


@fuzz_settings(0.5)
@given(raw=built_pngs())
@example(raw=PNG_SIGNATURE + ihdr(BOMB_SIDE, BOMB_SIDE) + chunk(b"IDAT", b"") + chunk(b"IEND", b""))
def test_built_pngs_read_or_raise_metadata_error(raw: bytes) -> None:
    check_reader(raw)


@fuzz_settings()
@given(raw=mutated_pngs())
def test_mutated_pngs_read_or_raise_metadata_error(raw: bytes) -> None:
    check_reader(raw)


def test_a_decompression_bomb_header_still_gives_its_text(tmp_path: Path) -> None:
    text = chunk(b"tEXt", b"parameters\x00" + TEXT.encode())
    data = PNG_SIGNATURE + ihdr(BOMB_SIDE, BOMB_SIDE) + text + chunk(b"IDAT", b"")
    (tmp_path / "bomb.png").write_bytes(data + chunk(b"IEND", b""))
    assert (Image.MAX_IMAGE_PIXELS or 0) * 1000 < BOMB_SIDE**2
    with within(1.0):
        assert read_parameters(tmp_path / "bomb.png") == TEXT


def test_a_compressed_text_bomb_is_refused_quickly(tmp_path: Path) -> None:
    bomb = zlib.compress(b"x" * 50_000_000, 9)
    data = PNG_SIGNATURE + ihdr(8, 8) + chunk(b"zTXt", b"parameters\x00\x00" + bomb)
    (tmp_path / "ztxt.png").write_bytes(data + chunk(b"IDAT", b"") + chunk(b"IEND", b""))
    assert len(bomb) < 100_000
    with within(2.0):
        try:
            text = read_parameters(tmp_path / "ztxt.png")
        except MetadataError as exc:
            assert "ztxt.png" in str(exc)
        else:
            assert text is None
