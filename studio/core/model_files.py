"""A model folder's files, checked before anything opens them: weights by content, no code.

Every file diffusers would open as safetensors must be safetensors with a sound header; a
folder whose only weights are pickles is refused; Python files are refused (nothing shipped
with a model ever runs); shard indexes may name only plain files beside them.
"""

from __future__ import annotations

import json
from pathlib import Path

from studio.core.weights_check import (
    WeightsError,
    WeightsFormat,
    check_safetensors,
    describe_format,
    sniff_file,
)

PICKLE_SUFFIXES = frozenset({".bin", ".ckpt", ".pt", ".pth", ".pkl", ".pickle"})
WEIGHT_SUFFIXES = PICKLE_SUFFIXES | {".safetensors"}
SHARD_INDEX = ".safetensors.index.json"
SAFE_ONLY = "which can run code when loaded: the studio loads safetensors weights only"


def folder_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def _sniff(path: Path, what: str) -> WeightsFormat:
    try:
        return sniff_file(path)
    except OSError as exc:
        raise WeightsError(f"{path.name} in {what} could not be read.") from exc


def _weight_kinds(files: list[Path], what: str) -> dict[Path, WeightsFormat]:
    """Each weights-looking file's format, read from its content."""
    return {p: _sniff(p, what) for p in files if p.suffix in WEIGHT_SUFFIXES}


def _refuse_pickle_only(kinds: dict[Path, WeightsFormat], what: str) -> None:
    pickles = [p for p, kind in kinds.items() if kind.is_pickle]
    if pickles and WeightsFormat.safetensors not in kinds.values():
        raise WeightsError(f"{what} has only pickle weights ({pickles[0].name}), {SAFE_ONLY}.")


def _check_safetensors(path: Path, kind: WeightsFormat, what: str) -> None:
    """A file diffusers would open as safetensors must be one, with a sound header."""
    label = f"{path.name} in {what}"
    if kind is not WeightsFormat.safetensors:
        raise WeightsError(
            f"{label} is named .safetensors but is {describe_format(kind)}, so the studio "
            "refuses it."
        )
    check_safetensors(path, label)


def _shard_names(index_file: Path, what: str) -> set[object]:
    try:
        weight_map = json.loads(index_file.read_text("utf-8")).get("weight_map")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        raise WeightsError(f"{index_file.name} in {what} is not a valid shard index.") from exc
    if not isinstance(weight_map, dict):
        raise WeightsError(f"{index_file.name} in {what} has no weight_map.")
    return set(weight_map.values())


def _check_shard_index(index_file: Path, what: str) -> None:
    """Shards named by an index must be plain files beside it, not paths elsewhere."""
    for shard in _shard_names(index_file, what):
        plain = isinstance(shard, str) and Path(shard).name == shard and shard not in {".", ".."}
        if not plain or "\\" in str(shard) or not (index_file.parent / str(shard)).is_file():
            raise WeightsError(
                f"{index_file.name} in {what} names the shard {shard!r}, which is not a file "
                "in its folder."
            )


def check_component(folder: Path, what: str) -> list[str]:
    """Check one component folder's files; the names of its safetensors weights."""
    files = folder_files(folder)
    refuse_code(files, what)
    kinds = _weight_kinds(files, what)
    for path, kind in kinds.items():
        if path.suffix == ".safetensors":
            _check_safetensors(path, kind, what)
    _refuse_pickle_only(kinds, what)
    for index_file in (p for p in files if p.name.endswith(SHARD_INDEX)):
        _check_shard_index(index_file, what)
    return [p.name for p in kinds if p.suffix == ".safetensors"]


def refuse_code(files: list[Path], what: str) -> None:
    code = [p.name for p in files if p.suffix == ".py"]
    if code:
        raise WeightsError(f"{what} ships Python code ({code[0]}); the studio never runs it.")


def refuse_pickle_only(files: list[Path], what: str) -> None:
    """Refuse a folder whose only weights are pickles, whatever their names."""
    _refuse_pickle_only(_weight_kinds(files, what), what)
