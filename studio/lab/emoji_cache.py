"""Where a built emoji dataset is kept: the user cache folder, and one file name per choice of
sources, image size, limit and skin tones, so that each build is found again and reused."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from platformdirs import user_cache_dir

from studio.lab.emoji_concepts import SOURCES


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
