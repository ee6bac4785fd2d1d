"""PNG files with a "parameters" text chunk: round trips, atomic writes, damaged files."""

from __future__ import annotations

import os
import random
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from studio.core import pngio
from studio.core.metadata import MAX_PARAMETERS_CHARS, MetadataError
from studio.core.pngio import read_parameters, unique_image_path, write_png

IMAGE = np.arange(16 * 24 * 3, dtype=np.uint8).reshape(16, 24, 3)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT = "a fox, at night\nSteps: 20, Sampler: DPM++ 2M, CFG scale: 5.0, Seed: 1, Size: 24x16"


def chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def test_round_trip_latin1_uses_text_chunk(tmp_path: Path) -> None:
    path = write_png(tmp_path / "a.png", IMAGE, TEXT)
    assert path == tmp_path / "a.png"
    assert read_parameters(path) == TEXT
    assert b"tEXtparameters\x00" in path.read_bytes()
    with Image.open(path) as picture:
        assert np.array_equal(np.asarray(picture), IMAGE)


def test_round_trip_unicode_uses_itxt_chunk(tmp_path: Path) -> None:
    text = "東京の夜 🦊, naïve: yes\nSteps: 4, Seed: 2"
    path = write_png(tmp_path / "u.png", IMAGE, text)
    assert read_parameters(path) == text
    assert b"iTXtparameters\x00" in path.read_bytes()


def test_overwrites_atomically_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "same.png"
    write_png(target, IMAGE, "first")
    write_png(target, IMAGE[::-1], "second")
    assert read_parameters(target) == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["same.png"]


def refuse(*args: object) -> None:
    raise OSError("disk on fire")


def test_failed_replace_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pngio.os, "replace", refuse)
    with pytest.raises(OSError, match="disk on fire"):
        write_png(tmp_path / "x.png", IMAGE, TEXT)
    assert list(tmp_path.iterdir()) == []


def test_failed_replace_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = write_png(tmp_path / "x.png", IMAGE, "old")
    monkeypatch.setattr(pngio.os, "replace", refuse)
    with pytest.raises(OSError):
        write_png(target, IMAGE, "new")
    assert read_parameters(target) == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


def test_file_permissions_follow_the_umask(tmp_path: Path) -> None:
    path = write_png(tmp_path / "p.png", IMAGE, TEXT)
    if os.name == "posix":
        umask = os.umask(0)
        os.umask(umask)
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize(
    "image",
    [
        IMAGE.astype(np.float32),
        IMAGE[..., 0],
        np.zeros((4, 4, 4), np.uint8),
        np.zeros((0, 4, 3), np.uint8),
        [[1, 2, 3]],
    ],
)
def test_bad_images_are_refused(tmp_path: Path, image: object) -> None:
    with pytest.raises(ValueError, match="The image must"):
        write_png(tmp_path / "bad.png", image, TEXT)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_oversized_or_invalid_text_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match="more than the"):
        write_png(tmp_path / "big.png", IMAGE, "x" * (MAX_PARAMETERS_CHARS + 1))
    with pytest.raises(MetadataError, match="not valid Unicode"):
        write_png(tmp_path / "sur.png", IMAGE, "bad \ud800")
    assert list(tmp_path.iterdir()) == []


def test_png_without_parameters_reads_none(tmp_path: Path) -> None:
    Image.fromarray(IMAGE).save(tmp_path / "plain.png")
    assert read_parameters(tmp_path / "plain.png") is None


def test_compressed_text_from_other_tools(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", TEXT, zip=True)
    Image.fromarray(IMAGE).save(tmp_path / "z.png", pnginfo=info)
    assert b"zTXtparameters" in (tmp_path / "z.png").read_bytes()
    assert read_parameters(tmp_path / "z.png") == TEXT


def test_reading_text_does_not_decode_pixels(tmp_path: Path) -> None:
    header = (60000).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    text = chunk(b"tEXt", b"parameters\x00" + TEXT.encode("latin-1"))
    bomb = zlib.compress(b"\x00" * 10_000_000)
    data = PNG_SIGNATURE + chunk(b"IHDR", header) + text + chunk(b"IDAT", bomb)
    (tmp_path / "bomb.png").write_bytes(data + chunk(b"IEND", b""))
    assert read_parameters(tmp_path / "bomb.png") == TEXT


def test_oversized_text_chunk_is_refused(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "x" * (MAX_PARAMETERS_CHARS + 1))
    Image.fromarray(IMAGE).save(tmp_path / "huge.png", pnginfo=info)
    with pytest.raises(MetadataError, match="more than the"):
        read_parameters(tmp_path / "huge.png")


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not an image at all",
        b"GIF89a" + b"\x00" * 40,
        PNG_SIGNATURE,
        PNG_SIGNATURE + b"\x00\x00\x00\x0dIHDR\x00\x00",
    ],
)
def test_unreadable_files_raise_metadata_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(MetadataError, match=r"^broken\.png is not a readable PNG image: "):
        read_parameters(path)


def test_truncated_png_raises_metadata_error(tmp_path: Path) -> None:
    path = write_png(tmp_path / "t.png", IMAGE, TEXT)
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"tEXt") + 20])
    with pytest.raises(MetadataError, match="is not a readable PNG image"):
        read_parameters(path)


def test_corrupt_crc_raises_metadata_error(tmp_path: Path) -> None:
    path = write_png(tmp_path / "c.png", IMAGE, TEXT)
    data = bytearray(path.read_bytes())
    data[data.index(b"tEXt") + 12] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(MetadataError):
        read_parameters(path)


def test_mangled_files_read_or_raise_metadata_error(tmp_path: Path) -> None:
    data = write_png(tmp_path / "m.png", IMAGE, TEXT).read_bytes()
    rng = random.Random(5)
    path = tmp_path / "mangled.png"
    for _ in range(300):
        mangled = bytearray(data)
        position = rng.randrange(len(mangled))
        if rng.random() < 0.5:
            mangled[position] = rng.randrange(256)
        else:
            del mangled[position:]
        path.write_bytes(bytes(mangled))
        try:
            assert read_parameters(path) in (TEXT, None)
        except MetadataError as exc:
            assert str(exc).startswith("mangled.png is not a readable PNG image: ")


def test_jpeg_is_not_a_png(tmp_path: Path) -> None:
    Image.fromarray(IMAGE).save(tmp_path / "photo.jpg")
    with pytest.raises(MetadataError, match=r"photo\.jpg is not a readable PNG image"):
        read_parameters(tmp_path / "photo.jpg")


def test_missing_file_raises_metadata_error(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match=r"nothing\.png"):
        read_parameters(tmp_path / "nothing.png")


def test_unique_image_path_counts_up(tmp_path: Path) -> None:
    first = unique_image_path(tmp_path, "fox")
    assert first == tmp_path / "fox-0001.png"
    write_png(first, IMAGE, TEXT)
    assert unique_image_path(tmp_path, "fox") == tmp_path / "fox-0002.png"
    (tmp_path / "fox-0041.png").touch()
    (tmp_path / "foxy-0100.png").touch()
    assert unique_image_path(tmp_path, "fox") == tmp_path / "fox-0042.png"
    assert unique_image_path(tmp_path, "other") == tmp_path / "other-0001.png"


def test_unique_image_path_in_missing_folder(tmp_path: Path) -> None:
    assert unique_image_path(tmp_path / "new", "a") == tmp_path / "new" / "a-0001.png"


@pytest.mark.parametrize("stem", ["", "a/b", "..", " pad", "nul\x00"])
def test_unique_image_path_refuses_odd_stems(tmp_path: Path, stem: str) -> None:
    with pytest.raises(ValueError, match="not a plain file name"):
        unique_image_path(tmp_path, stem)


def test_an_empty_parameters_text_writes_a_plain_png(tmp_path: Path) -> None:
    image = np.zeros((4, 6, 3), dtype=np.uint8)
    assert read_parameters(write_png(tmp_path / "plain.png", image, "")) is None
