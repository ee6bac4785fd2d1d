"""A model folder's role comes from what the folder says, never from its name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.core.model_roles import ModelRole, folder_role, is_model_folder
from studio.core.paths import models_dir


def model_folder(root: Path, name: str, **files: object) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "model_index.json").write_text("{}")
    for file_name, content in files.items():
        (folder / f"{file_name}.json").write_text(json.dumps(content))
    return folder


def test_a_folder_named_student_without_a_record_is_a_teacher(tmp_path) -> None:
    assert folder_role(model_folder(tmp_path, "my-student")) is ModelRole.teacher


def test_a_training_record_naming_its_teacher_makes_a_student(tmp_path) -> None:
    folder = model_folder(tmp_path, "plain", training={"step": 10, "teacher_step": 14000})
    assert folder_role(folder) is ModelRole.student


def test_a_teachers_own_training_record_keeps_it_a_teacher(tmp_path) -> None:
    folder = model_folder(tmp_path, "base", training={"step": 14000, "hours": 3.4})
    assert folder_role(folder) is ModelRole.teacher


def test_an_adapter_manifest_or_a_shortcut_record_makes_a_student(tmp_path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "studio_adapter.json").write_text("{}")
    shortcut = model_folder(tmp_path, "quick", training={"method": "shortcut model"})
    assert is_model_folder(adapter)
    assert folder_role(adapter) is folder_role(shortcut) is ModelRole.student


def test_an_unreadable_record_keeps_a_teacher(tmp_path) -> None:
    folder = model_folder(tmp_path, "odd")
    (folder / "training.json").write_text("not json")
    assert folder_role(folder) is ModelRole.teacher


@pytest.mark.parametrize("name", ["emoji-student-4step", "emoji-student-sid", "emoji-shortcut"])
def test_the_shipped_students_say_they_are_students(name: str) -> None:
    folder = models_dir() / name
    if not folder.is_dir():
        pytest.skip(f"{name} is not installed in this checkout")
    assert folder_role(folder) is ModelRole.student


def test_the_shipped_teacher_says_it_is_a_teacher() -> None:
    folder = models_dir() / "emoji-teacher"
    if not folder.is_dir():
        pytest.skip("the embedded teacher is not installed in this checkout")
    assert folder_role(folder) is ModelRole.teacher
