"""The dataset builder's command line (`python -m studio.lab.emoji_data`): build or reuse the
emoji dataset, print what each source gave, and optionally write its contact sheet.

The builder itself lives in `emoji_build` (with `emoji_concepts`, `emoji_sources`,
`emoji_render`, `emoji_dataset` and `emoji_cache`); this module parses arguments and reports.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from studio.core.atomic import atomic_write
from studio.lab.emoji_build import build_dataset
from studio.lab.emoji_concepts import SOURCES
from studio.lab.emoji_dataset import load_dataset, read_manifest
from studio.lab.emoji_sources import DatasetSourceMissing

SHEET_COLUMNS = 16
DESCRIPTION = (
    "Reproducible 32x32 emoji dataset with captions, built from Noto Color Emoji and twemoji.\n"
    "\n"
    "Concepts (names, groups, subgroups) come from Unicode's ``emoji-test.txt``. Each concept is\n"
    "rendered by every requested source, composited onto white, cropped to its glyph, padded to a\n"
    "centred square and resized. The result is one compressed ``.npz`` file (no pickles) with a\n"
    "small JSON manifest beside it that records the versions of every input.\n"
    "\n"
    "Run ``python -m studio.lab.emoji_data --help`` to build it from the command line.\n"
)


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


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m studio.lab.emoji_data", description=DESCRIPTION
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    parser.add_argument("--sources", default=",".join(SOURCES), help="e.g. noto,twemoji")
    parser.add_argument("--out", type=Path, help="output .npz path (default: user cache)")
    parser.add_argument("--sheet", type=Path, help="also write a contact sheet PNG here")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    parser.add_argument("--limit", type=int, help="only the first N emoji (for quick tries)")
    parser.add_argument("--skin-tones", action="store_true", help="include skin-tone variants")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: build, then print counts and the dataset path."""
    args = _parse_args(argv)
    started = time.perf_counter()
    try:
        path = build_dataset(
            sources=args.sources,
            size=args.size,
            force=args.force,
            progress=not args.quiet,
            limit=args.limit,
            include_skin_tones=args.skin_tones,
            out=args.out,
        )
    except (DatasetSourceMissing, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    _print_summary(path, read_manifest(path), time.perf_counter() - started)
    if args.sheet is not None:
        print(f"contact sheet: {write_contact_sheet(path, args.sheet)}")
    return 0


def _print_summary(path: Path, manifest: dict[str, Any], seconds: float) -> None:
    for source, info in manifest["sources"].items():
        print(f"{source}: {info['rendered']} images, {info['skipped']} skipped")
    print(f"total: {manifest['count']} images, {manifest['subgroups']} subgroups")
    print(f"emoji-test.txt version {manifest['emoji_test'].get('version', '?')}")
    print(f"dataset: {path} ({path.stat().st_size / 1e6:.1f} MB) in {seconds:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
