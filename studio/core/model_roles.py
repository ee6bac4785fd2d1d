"""A model folder's role (teacher or student), told by what the folder says about itself: an
adapter manifest, a training record naming the teacher it learned from, or a shortcut model's
record. Never by its name."""

from __future__ import annotations

import enum
from pathlib import Path

from studio.core.json_files import JsonFileError, read_json
from studio.core.manifest import MANIFEST
from studio.core.shortcut import RECORD, is_shortcut_folder

INDEX_FILE = "model_index.json"
MAX_RECORD_BYTES = 100_000
STUDENT_RECORD_KEYS = ("teacher_step", "method")


class ModelRole(enum.Enum):
    teacher = "teacher"
    student = "student"


def is_model_folder(folder: Path) -> bool:
    """A diffusers pipeline folder, or a student adapter folder."""
    return (folder / INDEX_FILE).is_file() or (folder / MANIFEST).is_file()


def _learned_from_a_teacher(folder: Path) -> bool:
    """Whether the folder's training record says it was distilled from a teacher."""
    try:
        record = read_json(folder / RECORD, max_bytes=MAX_RECORD_BYTES)
    except (JsonFileError, OSError):
        return False
    return isinstance(record, dict) and any(key in record for key in STUDENT_RECORD_KEYS)


def folder_role(folder: Path) -> ModelRole:
    """A student when the folder holds an adapter manifest, a training record naming its
    teacher, or a shortcut model's record; a teacher otherwise."""
    if (folder / MANIFEST).is_file() or is_shortcut_folder(folder):
        return ModelRole.student
    return ModelRole.student if _learned_from_a_teacher(folder) else ModelRole.teacher
