"""A models folder the user picks, scanned by reading file headers only (no torch, nothing loaded).

Each diffusers folder, studio adapter folder and weights file found becomes one frozen entry:
its family, kind, size and format, whether the studio can load it as a model, and why not.
Folders without a model in them are searched a few levels down (as in A1111's `models/` tree);
hidden folders and folder links are skipped, junk and unreadable files never stop the scan.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from studio.core.checkpoint_family import (
    CONFIG_CHOICES,
    CheckpointError,
    CheckpointFamily,
    check_checkpoint,
    classify,
)
from studio.core.json_files import JsonFileError, read_json
from studio.core.lora_students import lora_base_family
from studio.core.manifest import MANIFEST, ManifestError, read_manifest
from studio.core.weights_check import WeightsError, WeightsFormat, checked_header, sniff_file

WEIGHT_SUFFIXES = frozenset({".safetensors", ".ckpt", ".pt", ".pth", ".bin"})
INDEX_FILE = "model_index.json"
MAX_DEPTH = 3
SELF = "It"
MAX_ENTRIES = 500
MAX_FOLDERS = 2000
CONFIG_MARK = "#config="
DTYPE_NAMES = {"F16": "fp16", "BF16": "bf16", "F32": "fp32", "F8_E4M3": "fp8", "F8_E5M2": "fp8"}
PIPELINE_FAMILIES = (
    ("EmojiPipeline", "Emoji"),
    ("StableDiffusionXL", "SDXL"),
    ("StableDiffusion3", "SD3"),
    ("Flux", "FLUX"),
    ("StableDiffusion", "SD"),
    ("LatentConsistencyModel", "SD"),
)
SD_WIDTHS = {768: "SD 1.x", 1024: "SD 2.x"}
PART_NOTES = {
    CheckpointFamily.unet: "A UNet alone: a student UNet runs on a teacher through a preset.",
    CheckpointFamily.vae: "A VAE alone: not a model on its own.",
}
SD2_NOTE = (
    "It loads as a 768 v-prediction model by default; pick the 512 base config for a base model."
)
PICKLE_FOLDER_NOTE = "It has only pickle weights, which the studio does not load."
PICKLE_NOTE = (
    "A pickle checkpoint, which can run code when loaded: convert it to safetensors, or use it "
    "and allow pickle for this one file."
)
LORA_NOTE = "A LoRA adapter{made_for}: use it as the student adapter on a teacher of its family."


class EntryKind(StrEnum):
    """What a library entry is on disk."""

    folder = "folder"
    single_file = "single file"
    adapter = "adapter"


@dataclass(frozen=True, slots=True, kw_only=True)
class LibraryEntry:
    """One model found in a models folder: where, what family, how big, in which format, and
    whether the studio can load it as a model (`note` says why not, or gives a hint).
    `builtin` marks a model shipped with the studio, named by its embedded name."""

    name: str
    path: str
    family: str
    kind: EntryKind
    size_bytes: int
    format: str
    loadable: bool
    note: str = ""
    configs: tuple[str, ...] = ()
    base_family: str = ""
    builtin: bool = False

    @property
    def is_pickle_file(self) -> bool:
        """A single pickle checkpoint: usable only when the user allows this one file."""
        return self.kind is EntryKind.single_file and self.format == "pickle"

    @property
    def is_lora(self) -> bool:
        """A sound LoRA file: usable as the student adapter on a teacher of its family."""
        return self.family == CheckpointFamily.lora.label

    def model_name(self, config: str = "") -> str:
        """The name the model picker and the session use for this entry."""
        return self.name if self.builtin else model_name(self.path, config)


def model_name(path: str, config: str = "") -> str:
    """A model name for a file or folder, with a single-file config choice when not default."""
    return f"{path}{CONFIG_MARK}{config}" if config else path


def split_model_name(name: str) -> tuple[str, str]:
    """(path or name, single-file config) of a model name."""
    location, _, config = name.partition(CONFIG_MARK)
    return location, config


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _base(path: Path, root: Path, kind: EntryKind, size: int = 0) -> LibraryEntry:
    """The entry of `path` before anything is known about it: not loadable."""
    return LibraryEntry(
        name=str(path.relative_to(root)),
        path=str(path),
        family="unknown",
        kind=kind,
        size_bytes=size,
        format="unknown",
        loadable=False,
    )


def pipeline_family(class_name: str) -> str:
    """'SDXL', 'FLUX', 'SD'... for a pipeline class name; the name itself when unknown."""
    return next((f for p, f in PIPELINE_FAMILIES if class_name.startswith(p)), class_name)


def _folder_family(folder: Path, class_name: str) -> str:
    family = pipeline_family(class_name)
    if family != "SD":
        return family
    try:
        config = read_json(folder / "text_encoder" / "config.json")
    except (OSError, JsonFileError):
        return "SD 1.x/2.x"
    width = config.get("hidden_size") if isinstance(config, dict) else None
    return SD_WIDTHS.get(width, "SD 1.x/2.x") if isinstance(width, int) else "SD 1.x/2.x"


def _component_weights(folder: Path) -> tuple[list[Path], list[Path], bool]:
    """The safetensors that would load (fp16 ones where a component has only those), the
    pickle weights, and whether any component is fp16 only."""
    loaded: list[Path] = []
    pickles: list[Path] = []
    fp16_only = False
    for part in sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()):
        files = [f for f in part.iterdir() if f.is_file()]
        safe = [f for f in files if f.suffix == ".safetensors"]
        full = [f for f in safe if ".fp16" not in f.name]
        fp16_only |= bool(safe) and not full
        loaded += full or safe
        pickles += [f for f in files if f.suffix in WEIGHT_SUFFIXES - {".safetensors"}]
    return loaded, pickles, fp16_only


def _pipeline_folder(folder: Path, root: Path) -> LibraryEntry:
    entry = _base(folder, root, EntryKind.folder)
    try:
        index = read_json(folder / INDEX_FILE)
        class_name = index["_class_name"]
        if not isinstance(class_name, str):
            raise TypeError(class_name)
        loaded, pickles, fp16_only = _component_weights(folder)
    except OSError as exc:
        return replace(entry, note=f"It could not be read: {exc.strerror or exc}.")
    except (JsonFileError, KeyError, TypeError):
        return replace(entry, note=f"Its {INDEX_FILE} is not valid.")
    entry = replace(entry, family=_folder_family(folder, str(class_name)))
    if pickles and not loaded:
        return replace(entry, format="pickle", note=PICKLE_FOLDER_NOTE)
    if not loaded:
        return replace(entry, format="no weights", note="It holds no weights.")
    return replace(
        entry,
        size_bytes=sum(map(_size, loaded)),
        format="safetensors, fp16 variant" if fp16_only else "safetensors",
        loadable=True,
    )


def _adapter_folder(folder: Path, root: Path) -> LibraryEntry:
    entry = _base(folder, root, EntryKind.adapter)
    try:
        manifest = read_manifest(folder)
    except (ManifestError, OSError) as exc:
        return replace(entry, note=str(exc))
    if manifest is None:
        return entry
    lora = folder / manifest.lora
    return replace(
        entry,
        family="student adapter",
        size_bytes=_size(lora) if lora.is_file() else 0,
        format="safetensors",
        loadable=True,
        note=f"A student adapter on {manifest.base}.",
    )


def _dtype_label(header: dict[str, dict[str, Any]]) -> str:
    """The dtype holding most of the weights' bytes: 'fp16', 'bf16', 'fp32'..."""
    weight: Counter[str] = Counter()
    for info in header.values():
        begin, end = info["data_offsets"]
        weight[info["dtype"]] += end - begin
    main = weight.most_common(1)[0][0] if weight else ""
    return DTYPE_NAMES.get(main, main.lower())


def _safetensors_file(entry: LibraryEntry, path: Path) -> LibraryEntry:
    try:
        header = checked_header(path, SELF)
    except WeightsError as exc:
        return replace(entry, format="safetensors, damaged", note=str(exc))
    shapes = {key: tuple(info["shape"]) for key, info in header.items()}
    family = classify(list(shapes))
    entry = replace(
        entry,
        family=family.label,
        format=", ".join(filter(None, ("safetensors", _dtype_label(header)))),
    )
    if family is CheckpointFamily.lora:
        base = lora_base_family(shapes)
        made_for = f" for {base}" if base else ""
        note = LORA_NOTE.format(made_for=made_for)
        return replace(entry, kind=EntryKind.adapter, note=note, base_family=base)
    if family in PART_NOTES:
        return replace(entry, kind=EntryKind.adapter, note=PART_NOTES[family])
    try:
        check_checkpoint(shapes, SELF)
    except CheckpointError as exc:
        return replace(entry, note=str(exc))
    note = SD2_NOTE if family is CheckpointFamily.sd2 else ""
    return replace(entry, loadable=True, note=note, configs=CONFIG_CHOICES.get(family, ()))


def _weights_file(path: Path, root: Path) -> LibraryEntry:
    entry = _base(path, root, EntryKind.single_file, _size(path))
    try:
        kind = sniff_file(path)
    except OSError as exc:
        return replace(entry, note=f"It could not be read: {exc.strerror or exc}.")
    if kind is WeightsFormat.safetensors:
        return _safetensors_file(entry, path)
    if kind.is_pickle:
        return replace(entry, format="pickle", note=PICKLE_NOTE)
    return replace(entry, note="It is not a weights file the studio recognises.")


def _children(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as found:
            return sorted(found, key=lambda e: e.name.lower())
    except OSError:
        return []


def _walk(folder: Path, root: Path, depth: int, budget: list[int]) -> Iterator[LibraryEntry]:
    """Entries under `folder`; `budget` counts the folders still allowed to be opened."""
    for child in _children(folder):
        if child.name.startswith("."):
            continue
        path = Path(child.path)
        if child.is_dir(follow_symlinks=False):
            if (path / INDEX_FILE).is_file():
                yield _pipeline_folder(path, root)
            elif (path / MANIFEST).is_file():
                yield _adapter_folder(path, root)
            elif depth < MAX_DEPTH and budget[0] > 0:
                budget[0] -= 1
                yield from _walk(path, root, depth + 1, budget)
        elif path.suffix.lower() in WEIGHT_SUFFIXES and child.is_file():
            yield _weights_file(path, root)


def entry_for(path: Path) -> LibraryEntry | None:
    """The entry one model folder or weights file would have in a scan of its parent folder;
    None when it is neither."""
    path = Path(path).expanduser()
    if path.is_dir():
        if (path / INDEX_FILE).is_file():
            return _pipeline_folder(path, path.parent)
        return _adapter_folder(path, path.parent) if (path / MANIFEST).is_file() else None
    return _weights_file(path, path.parent) if path.is_file() else None


def scan_models_folder(root: Path) -> tuple[LibraryEntry, ...]:
    """Every model found in `root` (at most MAX_ENTRIES), sorted by name; empty when `root`
    is not a readable folder."""
    base = Path(root).expanduser()
    if not base.is_dir():
        return ()
    entries: list[LibraryEntry] = []
    for entry in _walk(base, base, 1, [MAX_FOLDERS]):
        entries.append(entry)
        if len(entries) >= MAX_ENTRIES:
            break
    return tuple(sorted(entries, key=lambda e: e.name.lower()))
