"""Checking a diffusers pipeline folder before any of it is loaded: model_index.json read with
bounds, only known pipeline classes and component libraries, component folders inside the
model folder, no code files, safetensors whose headers pass the check."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diffusers
from diffusers import DiffusionPipeline

from studio.core.json_files import JsonFileError, read_json
from studio.core.model_files import check_component, folder_files, refuse_code, refuse_pickle_only
from studio.core.paths import resolve_inside
from studio.core.weights_check import WeightsError

OWN_PIPELINES = frozenset({"EmojiPipeline"})
COMPONENT_LIBRARIES = frozenset({"diffusers", "transformers"})
FP16_WEIGHTS = re.compile(r"\.fp16(-\d+-of-\d+)?\.safetensors$")


class ModelLoadError(RuntimeError):
    """A model that cannot be loaded, explained in one sentence."""


@dataclass(frozen=True, slots=True)
class ModelFolder:
    """A checked diffusers pipeline folder: where it is, its pipeline class, its weights variant."""

    path: Path
    class_name: str
    variant: str | None
    absent: tuple[str, ...]


def _read_index(path: Path, name: str) -> dict[str, Any]:
    if not path.exists():
        raise ModelLoadError(f"The model folder {path} does not exist.")
    if not path.is_dir():
        raise ModelLoadError(
            f"{name} is a single file, not a diffusers model folder: open it as a single-file "
            "checkpoint instead."
        )
    index_file = path / "model_index.json"
    if not index_file.is_file():
        refuse_pickle_only(folder_files(path), name)
        raise ModelLoadError(
            f"{name} is not a diffusers model folder: model_index.json is missing."
        )
    try:
        index = read_json(index_file)
    except (OSError, JsonFileError) as exc:
        raise ModelLoadError(
            f"{name} is not a diffusers model folder: model_index.json is not valid JSON."
        ) from exc
    if not isinstance(index, dict):
        raise ModelLoadError(
            f"{name} is not a diffusers model folder: model_index.json is not a JSON object."
        )
    return index


def _is_diffusers_pipeline(class_name: str) -> bool:
    cls = getattr(diffusers, class_name, None) if class_name.isidentifier() else None
    return (
        isinstance(cls, type)
        and issubclass(cls, DiffusionPipeline)
        and cls is not DiffusionPipeline
    )


def _check_class(index: dict[str, Any], name: str) -> str:
    class_name = index.get("_class_name")
    if not isinstance(class_name, str):
        raise ModelLoadError(
            f"{name} asks for a custom pipeline ({class_name!r}); the studio never runs code "
            "shipped with a model."
        )
    if class_name not in OWN_PIPELINES and not _is_diffusers_pipeline(class_name):
        raise ModelLoadError(
            f"{name} uses the pipeline class {class_name!r}, which the studio does not load: "
            "only diffusers' own pipelines and EmojiPipeline are allowed."
        )
    return class_name


def _library_allowed(library: object) -> bool:
    if library is None or library in COMPONENT_LIBRARIES:
        return True
    if not isinstance(library, str) or not library.isidentifier():
        return False
    return importlib.util.find_spec(f"diffusers.pipelines.{library}") is not None


def _plain_class_name(class_name: object) -> bool:
    return class_name is None or (isinstance(class_name, str) and class_name.isidentifier())


def _components(index: dict[str, Any], name: str) -> dict[str, str | None]:
    """Each component's library (None for an absent one), after checking the libraries."""
    libraries: dict[str, str | None] = {}
    for key, value in index.items():
        if key.startswith("_") or not isinstance(value, list | tuple) or len(value) != 2:
            continue
        if not key.isidentifier():
            raise ModelLoadError(
                f"{name}'s model_index.json names the component {key!r}, which is not a plain name."
            )
        library, class_name = value
        if not _plain_class_name(class_name):
            raise ModelLoadError(
                f"{name} asks for its {key} as {class_name!r}, which is not a plain class name."
            )
        if not _library_allowed(library):
            raise ModelLoadError(
                f"{name} asks for its {key} from {library!r}; the studio loads components "
                "from diffusers and transformers only."
            )
        libraries[key] = library
    return libraries


def _component_folder(path: Path, key: str, name: str) -> Path:
    try:
        return resolve_inside(path, key)
    except ValueError as exc:
        raise ModelLoadError(
            f"{name}'s component {key} points outside the model folder, so the studio refuses it."
        ) from exc


def _weights_variant(path: Path, components: list[str], name: str) -> str | None:
    """The weights variant to ask for: fp16 when a component has only fp16 safetensors."""
    refuse_code(folder_files(path), name)
    variant = None
    for key in components:
        safe = check_component(_component_folder(path, key, name), f"{name}'s {key}")
        if safe and all(FP16_WEIGHTS.search(f) for f in safe):
            variant = "fp16"
    return variant


def inspect_folder(path: Path, name: str) -> ModelFolder:
    """Check a pipeline folder before any of it is loaded; ModelLoadError says what is wrong."""
    try:
        index = _read_index(path, name)
        class_name = _check_class(index, name)
        libraries = _components(index, name)
        present = [key for key, library in libraries.items() if library is not None]
        absent = tuple(key for key, library in libraries.items() if library is None)
        variant = _weights_variant(path, present, name)
    except WeightsError as exc:
        raise ModelLoadError(str(exc)) from exc
    return ModelFolder(path=path, class_name=class_name, variant=variant, absent=absent)
