"""The emoji dataset as data and as a file: row-aligned images and labels (`EmojiDataset`), one
compressed, byte-reproducible .npz (no pickles) and the JSON manifest beside it."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from studio.core.atomic import atomic_write
from studio.lab.emoji_concepts import EmojiConcept, make_caption, normalize_label

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


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
class RenderedRow:
    """One concept rendered in one style, before the rows are stacked into a dataset."""

    concept: EmojiConcept
    style: str
    image: np.ndarray


def assemble(rows: Sequence[RenderedRow], size: int) -> EmojiDataset:
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
