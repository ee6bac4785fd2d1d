"""The emoji dataset's contact sheet: its first images in a white grid, as a PNG.

The builder lives in `emoji_build` (with `emoji_concepts`, `emoji_sources`, `emoji_render`,
`emoji_dataset` and `emoji_cache`); `studio dataset` (studio.cli.dataset) is its command.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from studio.core.atomic import atomic_write
from studio.lab.emoji_dataset import load_dataset

SHEET_COLUMNS = 16


def contact_sheet(images: np.ndarray, count: int = 256, scale: int = 2) -> Image.Image:
    """A white grid of the first ``count`` images, 16 per row, upscaled by nearest neighbour."""
    shown = images[:count]
    rows = max(1, -(-len(shown) // SHEET_COLUMNS))
    height, width = images.shape[1:3]
    sheet = np.full((rows * height, SHEET_COLUMNS * width, 3), 255, dtype=np.uint8)
    for i, image in enumerate(shown):
        row, col = divmod(i, SHEET_COLUMNS)
        sheet[row * height : (row + 1) * height, col * width : (col + 1) * width] = image
    picture = Image.fromarray(sheet)
    return picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)


def write_contact_sheet(dataset_path: Path | str, sheet_path: Path | str) -> Path:
    """Save the contact sheet of a dataset file as a PNG."""
    picture = contact_sheet(load_dataset(dataset_path).images)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return atomic_write(Path(sheet_path), lambda handle: handle.write(buffer.getvalue()))
