"""Rendering one emoji concept as a small square RGB image, from the Noto font or a twemoji PNG:
the glyph cropped to its pixels, composited onto white, padded to a centred square, resized."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from studio.lab.emoji_concepts import STYLES, EmojiConcept

NOTO_BITMAP_SIZE = 109
FE0F = 0xFE0F
WHITE = (255, 255, 255)
_NOTDEF_PROBE = "\U0010fffd"


class GlyphSource(Protocol):
    """Turns an emoji concept into a tightly cropped RGBA glyph, or None when it has none."""

    style: str

    def glyph(self, concept: EmojiConcept) -> Image.Image | None: ...


class NotoRenderer:
    """Draws emoji with the Noto Color Emoji bitmap font; missing or tofu glyphs give None."""

    style = STYLES["noto"]

    def __init__(self, font_path: Path | str) -> None:
        self._font = ImageFont.truetype(str(font_path), NOTO_BITMAP_SIZE)
        self._advance = self._font.getlength(_NOTDEF_PROBE)
        self._notdef = self._draw(_NOTDEF_PROBE)

    def glyph(self, concept: EmojiConcept) -> Image.Image | None:
        text = concept.text
        if self._font.getlength(text) > 1.5 * self._advance:
            return None
        image = self._draw(text)
        if image is None or _same_image(image, self._notdef):
            return None
        return image

    def _draw(self, text: str) -> Image.Image | None:
        left, top, right, bottom = self._font.getbbox(text)
        if right <= left or bottom <= top:
            return None
        canvas = Image.new("RGBA", (math.ceil(right) + 1, math.ceil(bottom) + 1), (0, 0, 0, 0))
        ImageDraw.Draw(canvas).text((0, 0), text, font=self._font, embedded_color=True)
        return crop_to_alpha(canvas)


class TwemojiRenderer:
    """Loads the twemoji PNG of an emoji; an emoji without its own file gives None."""

    style = STYLES["twemoji"]

    def __init__(self, png_dir: Path | str) -> None:
        self._dir = Path(png_dir)

    def png_path(self, codepoints: Sequence[int]) -> Path | None:
        for stem in twemoji_stems(codepoints):
            path = self._dir / f"{stem}.png"
            if path.is_file():
                return path
        return None

    def glyph(self, concept: EmojiConcept) -> Image.Image | None:
        path = self.png_path(concept.codepoints)
        if path is None:
            return None
        with Image.open(path) as image:
            return crop_to_alpha(image.convert("RGBA"))


def twemoji_stems(codepoints: Sequence[int]) -> list[str]:
    """Candidate twemoji file names: hex code points joined by '-', then without FE0F."""
    full = "-".join(f"{cp:x}" for cp in codepoints)
    bare = "-".join(f"{cp:x}" for cp in codepoints if cp != FE0F)
    return [full] if bare == full else [full, bare]


def _same_image(image: Image.Image, other: Image.Image | None) -> bool:
    return other is not None and image.size == other.size and image.tobytes() == other.tobytes()


def crop_to_alpha(image: Image.Image) -> Image.Image | None:
    """The RGBA image cropped to its pixels with alpha > 0, or None if it is fully clear."""
    box = image.getchannel("A").getbbox()
    return image.crop(box) if box else None


def to_square_rgb(glyph: Image.Image, size: int) -> np.ndarray:
    """Composite an RGBA glyph onto white, pad it to a centred square, resize to ``size``."""
    rgba = glyph.convert("RGBA")
    flat = Image.alpha_composite(Image.new("RGBA", rgba.size, (*WHITE, 255)), rgba).convert("RGB")
    side = max(flat.size)
    square = Image.new("RGB", (side, side), WHITE)
    square.paste(flat, ((side - flat.width) // 2, (side - flat.height) // 2))
    resized = square.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.uint8)


def render(source: GlyphSource, concept: EmojiConcept, size: int = 32) -> np.ndarray | None:
    """One emoji from one source as a ``size x size x 3`` uint8 array, or None if it has none."""
    glyph = source.glyph(concept)
    return None if glyph is None else to_square_rgb(glyph, size)
