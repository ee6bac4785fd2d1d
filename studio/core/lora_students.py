"""A LoRA file from the models folder used as the student of the current teacher.

The student's model name is `<teacher name>#lora=<LoRA file>`; it becomes the same kind of
`StudentRef` a LoRA preset makes (the teacher's pipeline, the LoRA as a local adapter, applied
for the student lane only), so the engine loads it through the presets' path. The family a
LoRA was made for is told from its header: the input width of the cross-attention key
projection (768 SD 1.x, 1024 SD 2.x, 2048 SDXL), or block names of FLUX and SD3.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from studio.core.models import ModelRef, ModelSource
from studio.core.student_refs import AdapterKind, AdapterRef, StudentRef

LORA_MARK = "#lora="
CONTEXT_FAMILIES = {768: "SD 1.x", 1024: "SD 2.x", 2048: "SDXL"}
FLUX_MARKS = ("double_blocks", "single_blocks", "single_transformer_blocks")
SD3_MARKS = ("joint_blocks",)
SDXL_MARKS = ("lora_te2_", "text_encoder_2.")
CROSS_KEY = re.compile(r"attn2[._](processor[._])?to_k")
DOWN_MARKS = ("lora_down", "lora_A", "lora.down", "to_k_lora.down")
SD_EITHER = "SD 1.x/2.x"
UNKNOWN_FAMILIES = frozenset({"", "unknown"})


def lora_student_name(teacher: str, lora: str) -> str:
    """The student lane's model name for `lora` on the teacher named `teacher`."""
    return f"{teacher}{LORA_MARK}{lora}"


def split_lora_student(name: str) -> tuple[str, str] | None:
    """(teacher name, LoRA file) of a LoRA student's name; None for any other name."""
    if not isinstance(name, str) or LORA_MARK not in name:
        return None
    teacher, _, lora = name.rpartition(LORA_MARK)
    return (teacher, lora) if teacher and lora else None


def lora_base_family(shapes: Mapping[str, Sequence[int]]) -> str:
    """The family a LoRA was made for ('SD 1.x', 'SDXL', 'FLUX'...), or '' when unsure."""
    keys = list(shapes)
    if any(mark in key for key in keys for mark in FLUX_MARKS):
        return "FLUX"
    if any(mark in key for key in keys for mark in SD3_MARKS):
        return "SD3"
    if any(key.startswith(SDXL_MARKS) for key in keys):
        return "SDXL"
    for key, shape in shapes.items():
        if CROSS_KEY.search(key) and any(m in key for m in DOWN_MARKS) and len(shape) == 2:
            return CONTEXT_FAMILIES.get(int(shape[1]), "")
    return ""


def families_fit(lora_family: str, teacher_family: str) -> bool:
    """Whether a LoRA of one family may go on a teacher of another; unknown ones may (the
    engine then says whether the LoRA's weights fit the teacher's denoiser)."""
    if lora_family in UNKNOWN_FAMILIES or teacher_family in UNKNOWN_FAMILIES:
        return True
    if SD_EITHER in (lora_family, teacher_family):
        return {lora_family, teacher_family} <= {"SD 1.x", "SD 2.x", SD_EITHER}
    return lora_family == teacher_family


def _a(family: str) -> str:
    return f"an {family}" if family[:1] in set("AEIOS") else f"a {family}"


def family_mismatch(lora: str, lora_family: str, teacher: str, teacher_family: str) -> str:
    """One sentence when the LoRA does not fit the teacher's family, else ''."""
    if families_fit(lora_family, teacher_family):
        return ""
    return (
        f"The LoRA {lora} was made for {lora_family} models, but the teacher {teacher} is "
        f"{_a(teacher_family)} model: choose {_a(lora_family)} teacher first, then use the "
        "LoRA as the student adapter again."
    )


def lora_student_ref(base: ModelRef, lora: Path) -> StudentRef:
    """The teacher `base` with the LoRA file `lora` for the student lane, as a preset's LoRA
    student is built (its own allow_pickle stays off: a LoRA file must be safetensors)."""
    adapter = AdapterRef(
        kind=AdapterKind.lora, location=str(lora.parent), file=lora.name, source=ModelSource.folder
    )
    plain = replace(base, label="")
    return StudentRef(
        location=plain.location,
        source=plain.source,
        allow_pickle=plain.allow_pickle,
        config=plain.config,
        adapter=adapter,
    )
