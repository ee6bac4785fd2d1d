"""Gallery thumbnails of hostile PNGs: decompression-bomb headers, bombs that decode to a
gigabyte, truncated and mutated files. The strip must get an icon (empty when the file is
unusable) in bounded time and memory, never a crash."""

from __future__ import annotations

import zlib
from pathlib import Path

from hypothesis import given

from studio.ui.gallery_strip import load_icon
from tests.core.test_fuzz_png import BOMB_SIDE, PNG_SIGNATURE, VALID_PNG, chunk, ihdr, mutated_pngs
from tests.fuzzing import fuzz_settings, within

ICON = 96


def bomb(width: int, height: int, rows: int) -> bytes:
    """A PNG declaring `width`x`height` RGB with `rows` rows of zeros actually compressed."""
    data = zlib.compress((b"\x00" + b"\x00" * 3 * width) * rows, 9)
    return PNG_SIGNATURE + ihdr(width, height) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


HOSTILE = {
    "header-2^31": bomb(BOMB_SIDE, BOMB_SIDE, 0),
    "header-60000": bomb(60000, 60000, 1),
    "gigabyte": bomb(20000, 20000, 50),
    "zero": bomb(0, 0, 0),
    "truncated": VALID_PNG[: len(VALID_PNG) // 2],
}


def test_hostile_pngs_give_an_icon_in_bounded_time(tmp_path: Path, qapp) -> None:
    for name, data in HOSTILE.items():
        path = tmp_path / f"{name}.png"
        path.write_bytes(data)
        with within(5.0):
            icon = load_icon(path, ICON)
        assert icon.isNull() or not icon.pixmap(ICON).isNull(), name


def test_a_valid_png_still_gives_its_thumbnail(tmp_path: Path, qapp) -> None:
    path = tmp_path / "valid.png"
    path.write_bytes(VALID_PNG)
    assert not load_icon(path, ICON).isNull()


@fuzz_settings(0.5)
@given(raw=mutated_pngs())
def test_mutated_pngs_give_an_icon_or_none(tmp_path_factory, qapp, raw: bytes) -> None:
    path = tmp_path_factory.mktemp("thumbs") / "fuzzed.png"
    path.write_bytes(raw)
    with within(5.0):
        load_icon(path, ICON)
