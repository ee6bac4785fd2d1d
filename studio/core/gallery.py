"""The gallery folder: finished images as PNGs with their parameters, newest first."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs

from studio.core.metadata import (
    MetadataError,
    ParsedParameters,
    format_parameters,
    parse_parameters,
)
from studio.core.params import GenerationParams
from studio.core.pngio import read_parameters, unique_image_path, write_png

FILE_STEM = "studio"
DEFAULT_LIMIT = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class GalleryItem:
    """One saved image: its file, its parameters text, and what that text says (if readable)."""

    path: Path
    parameters: str
    parsed: ParsedParameters | None


def default_gallery_dir() -> Path:
    """`<Pictures>/Studio` when the user has a pictures folder, else the app's data folder."""
    pictures = Path(platformdirs.user_pictures_dir())
    if pictures.is_dir():
        return pictures / "Studio"
    return Path(platformdirs.user_data_dir("studio")) / "gallery"


def parse_or_none(text: str) -> ParsedParameters | None:
    try:
        return parse_parameters(text)
    except MetadataError:
        return None


class GalleryStore:
    """Writes numbered PNGs into one folder and lists them back, newest first."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def save(
        self,
        image: np.ndarray,
        params: GenerationParams,
        *,
        model: str = "",
        extra: Mapping[str, str] | None = None,
    ) -> GalleryItem:
        """Write `image` as the next `studio-NNNN.png`, atomically; OSError or MetadataError."""
        text = format_parameters(params, model=model, extra=dict(extra or {}))
        self.folder.mkdir(parents=True, exist_ok=True)
        path = write_png(unique_image_path(self.folder, FILE_STEM), image, text)
        return GalleryItem(path=path, parameters=text, parsed=parse_or_none(text))

    def items(self, limit: int = DEFAULT_LIMIT) -> list[GalleryItem]:
        """Up to `limit` readable PNGs of the folder, newest first; unreadable files are skipped."""
        found: list[GalleryItem] = []
        for path in self._newest_first():
            if len(found) >= limit:
                break
            item = read_item(path)
            if item is not None:
                found.append(item)
        return found

    def delete(self, path: str | os.PathLike[str]) -> Path:
        """Remove one PNG of this folder; ValueError (nothing removed) for any other file,
        OSError when it cannot be removed. A link is removed, never what it points to."""
        target = Path(os.path.abspath(path))
        inside = target.parent.resolve() == self.folder.resolve()
        if not inside or target.suffix.lower() != ".png":
            raise ValueError(f"{target} is not an image of the gallery folder {self.folder}.")
        target.unlink()
        return target

    def _newest_first(self) -> list[Path]:
        stamped: list[tuple[float, str, Path]] = []
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return []
        for entry in entries:
            if entry.name.startswith(".") or not entry.name.lower().endswith(".png"):
                continue
            try:
                if entry.is_file():
                    stamped.append((entry.stat().st_mtime, entry.name, Path(entry.path)))
            except OSError:
                continue
        stamped.sort(key=lambda row: (row[0], row[1]), reverse=True)
        return [path for _, _, path in stamped]


def read_item(path: str | os.PathLike[str]) -> GalleryItem | None:
    """The gallery item of one PNG, or None when the file cannot be read as a PNG."""
    try:
        text = read_parameters(path) or ""
    except (MetadataError, OSError):
        return None
    parsed = parse_or_none(text) if text else None
    return GalleryItem(path=Path(path), parameters=text, parsed=parsed)
