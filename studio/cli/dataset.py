"""`studio dataset`: build (or reuse) the emoji dataset, print what each source gave, and
optionally write its contact sheet. The builder is `studio.lab.emoji_build`; this module only
parses arguments and reports."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from studio.cli.args import quiet_arg

DESCRIPTION = (
    "Reproducible 32x32 emoji dataset with captions, built from Noto Color Emoji and twemoji. "
    "Concepts (names, groups, subgroups) come from Unicode's emoji-test.txt. Each concept is "
    "rendered by every requested source, composited onto white, cropped to its glyph, padded to "
    "a centred square and resized. The result is one compressed .npz file (no pickles) with a "
    "small JSON manifest beside it that records the versions of every input."
)
DEFAULT_SOURCES = "noto,twemoji"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "dataset", help="build the emoji dataset the lab trains on", description=DESCRIPTION
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    parser.add_argument("--sources", default=DEFAULT_SOURCES, help="e.g. noto,twemoji")
    parser.add_argument("--out", type=Path, help="output .npz path (default: user cache)")
    parser.add_argument("--sheet", type=Path, help="also write a contact sheet PNG here")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    parser.add_argument("--limit", type=int, help="only the first N emoji (for quick tries)")
    parser.add_argument("--skin-tones", action="store_true", help="include skin-tone variants")
    quiet_arg(parser)
    parser.set_defaults(func=cmd_dataset)


def cmd_dataset(args: argparse.Namespace) -> int:
    """Build, then print counts and the dataset path (and the contact sheet's)."""
    from studio.lab.emoji_build import build_dataset
    from studio.lab.emoji_data import write_contact_sheet
    from studio.lab.emoji_dataset import read_manifest
    from studio.lab.emoji_sources import DatasetSourceMissing

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
        print(f"studio: {error}", file=sys.stderr)
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
