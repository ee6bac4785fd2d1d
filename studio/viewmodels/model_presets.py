"""Model-pair presets in the session: choosing one, and the model names saved images record.

Choosing a preset sets both lanes at once: the teacher lane runs the preset's base model with
the teacher recipe, the student lane runs `preset:<name>` (the base plus the preset's adapter
and sampling facts, resolved to a `StudentRef` when a job is built) with the student's recipe,
and the shared size becomes the preset's. The catalogue itself belongs to the session's model
resolver (`studio.core.model_resolver`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from studio.core.lora_students import lora_student_name
from studio.core.model_library import model_name
from studio.core.model_presets import PRESET_PREFIX, preset_model_name, student_recipe
from studio.core.models import ModelRef, ModelSource
from studio.core.preset_schema import ModelPreset
from studio.core.student_refs import StudentRef
from studio.viewmodels.lane import LaneViewModel


def student_is_guidance_free(preset: ModelPreset) -> bool:
    """Whether the student is meant to run without CFG (so raising CFG earns a warning)."""
    return preset.guidance_scale <= 1


class PresetTarget(Protocol):
    """What a preset sets: both lanes' models and recipes, compare mode and the shared size
    (the session is one)."""

    teacher_model: str
    student_model: str
    compare_mode: bool
    width: int
    height: int

    @property
    def teacher(self) -> LaneViewModel: ...

    @property
    def student(self) -> LaneViewModel: ...


def apply_preset(session: PresetTarget, preset: ModelPreset) -> None:
    """Set both lanes' models and recipes, compare mode and the size from `preset`."""
    session.teacher_model = preset.base
    session.student_model = preset_model_name(preset)
    session.compare_mode = True
    session.teacher.set_recipe(preset.teacher)
    session.teacher.guidance_distilled = False
    session.student.set_recipe(student_recipe(preset))
    session.student.guidance_distilled = student_is_guidance_free(preset)
    session.width, session.height = preset.width, preset.height


def model_name_of(ref: ModelRef) -> str:
    """The model name a saved image records: `preset:<name>` for a preset's student, the
    teacher's name with the LoRA file for a LoRA from the models folder (so that restoring the
    image brings the student back, adapter included), else the location."""
    if isinstance(ref, StudentRef) and ref.label:
        return PRESET_PREFIX + ref.label
    adapter = ref.adapter if isinstance(ref, StudentRef) else None
    if adapter is not None and adapter.source is ModelSource.folder:
        lora = str(Path(adapter.location) / adapter.file)
        return lora_student_name(model_name(ref.location, ref.config), lora)
    return ref.location


def adapter_note(ref: ModelRef) -> dict[str, str]:
    """The adapter a student ran with, for the image's parameters; empty for other models."""
    adapter = getattr(ref, "adapter", None)
    if adapter is None:
        return {}
    return {"Adapter": f"{adapter.location}/{adapter.file} ({adapter.kind}, {adapter.scale:g})"}
