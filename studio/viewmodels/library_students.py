"""Model families told from names (headers only, nothing loaded), and LoRA students made from
the models folder: the current teacher plus a LoRA file, refused at once when the families
differ."""

from __future__ import annotations

from pathlib import Path

from studio.core.lora_students import (
    SD_EITHER,
    family_mismatch,
    lora_student_name,
    split_lora_student,
)
from studio.core.model_library import LibraryEntry, entry_for, pipeline_family, split_model_name
from studio.core.model_presets import preset_name_of
from studio.core.paths import embedded_model_dir
from studio.core.student_refs import is_hub_id
from studio.viewmodels.model_presets import preset_catalogue


def _family_label(class_name: str) -> str:
    family = pipeline_family(class_name)
    return SD_EITHER if family == "SD" else family


def _hub_family(repo: str) -> str:
    """The family of a hub model the shipped or user presets use as their base, else ''."""
    found = {
        _family_label(p.pipeline)
        for p in preset_catalogue().presets
        if p.base == repo and p.pipeline
    }
    return found.pop() if len(found) == 1 else ""


def _local_path(location: str) -> Path | None:
    path = Path(location).expanduser()
    if path.exists():
        return path
    if "/" in location or "\\" in location:
        return None
    try:
        return embedded_model_dir(location)
    except ValueError:
        return None


def model_family(name: str) -> str:
    """The family label ('SD 1.x', 'SDXL', 'Emoji'...) of the model a name names, read from
    headers and model_index.json only; '' when it cannot be told."""
    lora = split_lora_student(name)
    if lora is not None:
        return model_family(lora[0])
    preset = preset_name_of(name)
    if preset is not None:
        found = preset_catalogue().find(preset)
        return _family_label(found.pipeline) if found is not None and found.pipeline else ""
    location, _config = split_model_name(name)
    path = _local_path(location)
    if path is None:
        return _hub_family(location) if is_hub_id(location) else ""
    entry = entry_for(path)
    return entry.family if entry is not None else ""


def adapter_student(teacher: str, entry: LibraryEntry) -> str:
    """The student name of `entry` (a LoRA file) on the teacher named `teacher`; ValueError in
    one sentence when the entry is no LoRA or was made for another family than the teacher's."""
    if not entry.is_lora:
        raise ValueError(
            f"{entry.name} is not a LoRA file: only LoRA adapters can be put on the teacher."
        )
    if preset_name_of(teacher) is not None or split_lora_student(teacher) is not None:
        raise ValueError(
            "The teacher is itself a student: choose a plain model as the teacher first."
        )
    shown = Path(split_model_name(teacher)[0]).name or teacher
    problem = family_mismatch(entry.name, entry.base_family, shown, model_family(teacher))
    if problem:
        raise ValueError(problem)
    return lora_student_name(teacher, entry.path)
