"""Model families told from names (headers only, nothing loaded), and LoRA students made from
the models folder: the current teacher plus a LoRA file, refused at once when the families
differ."""

from __future__ import annotations

from pathlib import Path

from studio.core.lora_students import (
    SD_EITHER,
    family_mismatch,
    lora_student_name,
)
from studio.core.model_library import LibraryEntry, entry_for, pipeline_family, split_model_name
from studio.core.model_names import NameKind, parse_model_name
from studio.core.model_resolver import ModelResolver


def _family_label(class_name: str) -> str:
    family = pipeline_family(class_name)
    return SD_EITHER if family == "SD" else family


def _hub_family(models: ModelResolver, repo: str) -> str:
    """The family of a hub model the shipped or user presets use as their base, else ''."""
    found = {
        _family_label(p.pipeline) for p in models.presets.presets if p.base == repo and p.pipeline
    }
    return found.pop() if len(found) == 1 else ""


def model_family(models: ModelResolver, name: str) -> str:
    """The family label ('SD 1.x', 'SDXL', 'Emoji'...) of the model a name names, read from
    headers and model_index.json only; '' when it cannot be told."""
    parsed = parse_model_name(name)
    match parsed.kind:
        case NameKind.lora:
            return model_family(models, parsed.location)
        case NameKind.preset:
            found = models.preset(parsed.location)
            return _family_label(found.pipeline) if found is not None and found.pipeline else ""
        case NameKind.hub:
            return _hub_family(models, parsed.location)
        case NameKind.folder | NameKind.file | NameKind.embedded:
            entry = entry_for(models.folder_of(name))
            return entry.family if entry is not None else ""
    return ""


def adapter_student(models: ModelResolver, teacher: str, entry: LibraryEntry) -> str:
    """The student name of `entry` (a LoRA file) on the teacher named `teacher`; ValueError in
    one sentence when the entry is no LoRA or was made for another family than the teacher's."""
    if not entry.is_lora:
        raise ValueError(
            f"{entry.name} is not a LoRA file: only LoRA adapters can be put on the teacher."
        )
    if parse_model_name(teacher).is_student_name:
        raise ValueError(
            "The teacher is itself a student: choose a plain model as the teacher first."
        )
    shown = Path(split_model_name(teacher)[0]).name or teacher
    problem = family_mismatch(entry.name, entry.base_family, shown, model_family(models, teacher))
    if problem:
        raise ValueError(problem)
    return lora_student_name(teacher, entry.path)
