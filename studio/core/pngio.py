"""PNG files with their generation parameters in a "parameters" text chunk, written atomically."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from studio.core.atomic import atomic_write
from studio.core.metadata import MAX_PARAMETERS_CHARS, MetadataError

PARAMETERS_KEY = "parameters"
MAX_READ_PIXELS = 64 * 1024 * 1024


def write_png(path: str | os.PathLike[str], image: np.ndarray, parameters: str) -> Path:
    """Write `image` (uint8 HxWx3) to `path` with `parameters` in a text chunk, atomically.

    The text goes in a tEXt chunk when it is Latin-1 and in an iTXt (UTF-8) chunk otherwise;
    an empty text writes no chunk (a plain PNG).
    The file appears complete or not at all: a temporary file in the same folder is flushed,
    synced and renamed over `path`, and removed if anything fails.
    """
    target = Path(path)
    picture = _to_pil(image)
    info = _png_info(parameters) if parameters != "" else None
    return atomic_write(target, lambda file: picture.save(file, format="PNG", pnginfo=info))


def _to_pil(image: np.ndarray) -> Image.Image:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError("The image must be a uint8 numpy array.")
    if image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        raise ValueError(f"The image must have the shape HxWx3, not {image.shape}.")
    return Image.fromarray(np.ascontiguousarray(image))


def _png_info(parameters: str) -> PngImagePlugin.PngInfo:
    if not isinstance(parameters, str):
        raise MetadataError(f"The parameters must be text, not {type(parameters).__name__}.")
    if len(parameters) > MAX_PARAMETERS_CHARS:
        raise MetadataError(
            f"The parameters text has {len(parameters)} characters,"
            f" more than the {MAX_PARAMETERS_CHARS} allowed."
        )
    try:
        parameters.encode("utf-8")
    except UnicodeEncodeError:
        raise MetadataError("The parameters text is not valid Unicode.") from None
    info = PngImagePlugin.PngInfo()
    info.add_text(PARAMETERS_KEY, parameters)
    return info


def read_parameters(path: str | os.PathLike[str]) -> str | None:
    """The "parameters" text of the PNG at `path`, or None when it has none.

    Only the chunks before the pixel data are read (where A1111 and we put the text); pixels are
    never decoded, so huge or malicious images cost no memory. Raises MetadataError.
    """
    source = Path(path)
    text = read_text_chunks(source, (PARAMETERS_KEY,)).get(PARAMETERS_KEY)
    if text is None:
        return None
    if len(text) > MAX_PARAMETERS_CHARS:
        raise MetadataError(
            f"The parameters text in {source.name} has {len(text)} characters,"
            f" more than the {MAX_PARAMETERS_CHARS} allowed."
        )
    return str(text)


def read_text_chunks(path: str | os.PathLike[str], keys: tuple[str, ...]) -> dict[str, str]:
    """The text chunks named in `keys` of the PNG at `path` (tEXt, zTXt or iTXt, before the
    pixel data; pixels are never decoded); MetadataError when it is not a readable PNG."""
    source = Path(path)
    try:
        with source.open("rb") as file, PngImagePlugin.PngImageFile(file) as picture:
            info = dict(picture.info)
    except Exception as exc:  # Pillow raises many types on damaged files.
        detail = str(exc) or type(exc).__name__
        raise MetadataError(f"{source.name} is not a readable PNG image: {detail}") from exc
    return {key: str(info[key]) for key in keys if isinstance(info.get(key), str)}


def read_image(path: str | os.PathLike[str], max_pixels: int = MAX_READ_PIXELS) -> np.ndarray:
    """The pixels of the image at `path` as a read-only uint8 HxWx3 array; MetadataError when it
    cannot be read or declares more than `max_pixels` pixels (checked before decoding)."""
    source = Path(path)
    try:
        with Image.open(source) as picture:
            width, height = picture.size
            if width * height > max_pixels:
                raise MetadataError(
                    f"{source.name} is {width}x{height} pixels, too large to show"
                    f" (at most {max_pixels:,} pixels)."
                )
            pixels = np.asarray(picture.convert("RGB"), dtype=np.uint8)
    except MetadataError:
        raise
    except Exception as exc:  # Pillow raises many types on damaged files.
        detail = str(exc) or type(exc).__name__
        raise MetadataError(f"{source.name} is not a readable image: {detail}") from exc
    pixels.flags.writeable = False
    return pixels


def unique_image_path(folder: str | os.PathLike[str], stem: str) -> Path:
    """The next free `stem-0001.png`-style path in `folder`, after the highest number there."""
    if not stem or stem != stem.strip() or any(c in stem for c in "/\\\x00") or stem in {".", ".."}:
        raise ValueError(f"The file name stem {stem!r} is not a plain file name.")
    directory = Path(folder)
    pattern = re.compile(rf"{re.escape(stem)}-(\d+)\.png", re.IGNORECASE)
    numbers = [int(m[1]) for m in map(pattern.fullmatch, _names_in(directory)) if m]
    number = max(numbers, default=0) + 1
    while (candidate := directory / f"{stem}-{number:04d}.png").exists():
        number += 1
    return candidate


def _names_in(directory: Path) -> list[str]:
    try:
        return [entry.name for entry in os.scandir(directory)]
    except FileNotFoundError:
        return []
