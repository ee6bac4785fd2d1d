"""A LoRA file from the models folder as the student adapter: the student lane becomes the
current teacher plus that LoRA (the same kind of StudentRef a LoRA preset makes), and a LoRA of
another family than the teacher's is refused at once in one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from studio.core.commands import Submit
from studio.core.jobs import CompareJob
from studio.core.lora_students import lora_student_name
from studio.core.models import ModelSource
from studio.core.student_refs import AdapterKind, StudentRef
from studio.ui.main_window import MainWindow
from studio.viewmodels.library_students import model_family
from studio.viewmodels.model_presets import model_name_of
from tests.core.test_lora_students import PEFT_XL, kohya, lora_file
from tests.core.test_model_library import SD1_KEYS, SDXL_KEYS, pipeline_folder, safetensors
from tests.ui.test_main_window import child, make_window
from tests.viewmodels.fake_engine import FakeEngine

SD15_LORA = "Lora/sd15-detail.safetensors"
XL_LORA = "Lora/xl-lightning.safetensors"
TINY_LORA = "Lora/tiny.safetensors"


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "my-models"
    safetensors(root / "dreamshaper.safetensors", SD1_KEYS)
    safetensors(root / "juggernaut-xl.safetensors", SDXL_KEYS)
    pipeline_folder(root / "sd15-diffusers")
    lora_file(root / SD15_LORA, kohya(768))
    lora_file(root / XL_LORA, {f"{PEFT_XL}.lora_A.weight": (4, 2048)})
    lora_file(root / TINY_LORA, {f"{PEFT_XL}.lora_A.weight": (2, 32)})
    return root


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def window(tmp_path: Path, engine: FakeEngine, models: Path, qtbot) -> MainWindow:
    window = make_window(tmp_path, engine, qtbot)
    window.set_models_folder(models)
    return window


def select(window: MainWindow, name: str) -> None:
    names = [e.name for e in window.library.entries]
    window.library_panel.table.selectRow(names.index(name))


def click(window: MainWindow, qtbot, name: str, button: str) -> None:
    select(window, name)
    assert child(window, button).isEnabled()
    qtbot.mouseClick(child(window, button), Qt.MouseButton.LeftButton)


def test_only_lora_entries_offer_the_adapter_button(window):
    button = child(window, "useAsAdapter")
    for name in ("dreamshaper.safetensors", "sd15-diffusers"):
        select(window, name)
        assert not button.isEnabled()
    select(window, SD15_LORA)
    assert button.isEnabled() and not child(window, "useAsTeacher").isEnabled()
    table = window.library_panel.table
    names = [e.name for e in window.library.entries]
    assert table.item(names.index(SD15_LORA), 1).text() == "LoRA, SD 1.x"
    assert table.item(names.index(TINY_LORA), 1).text() == "LoRA"


def test_the_student_lane_becomes_the_teacher_with_the_lora(window, models, engine, qtbot):
    click(window, qtbot, "dreamshaper.safetensors", "useAsTeacher")
    teacher = str(models / "dreamshaper.safetensors")
    click(window, qtbot, SD15_LORA, "useAsAdapter")
    s = window.session
    assert (s.teacher_model, s.compare_mode) == (teacher, True)
    assert s.student_model == lora_student_name(teacher, str(models / SD15_LORA))
    pair = window.controls.model_combo.current_pair()
    shown = "dreamshaper.safetensors + sd15-detail.safetensors"
    assert pair.label == f"dreamshaper.safetensors → {shown}"
    assert window.status_line.text() == f"Using {pair.label}."
    window.generate()
    (job,) = [c.job for c in engine.sent if isinstance(c, Submit)]
    assert isinstance(job, CompareJob)
    assert not isinstance(job.teacher.model, StudentRef)
    student = job.student.model
    assert isinstance(student, StudentRef) and student.adapter is not None
    assert (student.location, student.source) == (teacher, ModelSource.file)
    assert (student.adapter.kind, student.adapter.source) == (AdapterKind.lora, ModelSource.folder)
    assert Path(student.adapter.location) / student.adapter.file == models / SD15_LORA
    assert model_name_of(student) == s.student_model, "a saved image restores this student"


def test_a_lora_on_a_diffusers_folder_teacher(window, models, qtbot):
    click(window, qtbot, "sd15-diffusers", "useAsTeacher")
    click(window, qtbot, SD15_LORA, "useAsAdapter")
    ref = window.session.models.resolve(window.session.student_model)
    assert isinstance(ref, StudentRef)
    assert (ref.location, ref.source) == (str(models / "sd15-diffusers"), ModelSource.folder)


def test_a_lora_of_another_family_is_refused_and_changes_nothing(window, models, qtbot):
    click(window, qtbot, "dreamshaper.safetensors", "useAsTeacher")
    before = (window.session.teacher_model, window.session.student_model)
    click(window, qtbot, XL_LORA, "useAsAdapter")
    assert (window.session.teacher_model, window.session.student_model) == before
    assert not window.session.compare_mode
    assert window.banner.kind == "error"
    assert window.banner.message() == (
        f"The LoRA {XL_LORA} was made for SDXL models, but the teacher dreamshaper.safetensors "
        "is an SD 1.x model: choose an SDXL teacher first, then use the LoRA as the student "
        "adapter again."
    )
    click(window, qtbot, "juggernaut-xl.safetensors", "useAsTeacher")
    click(window, qtbot, XL_LORA, "useAsAdapter")
    assert window.session.student_model.endswith(f"#lora={models / XL_LORA}")


def test_a_lora_of_unknown_family_is_left_to_the_engine(window, models, qtbot):
    click(window, qtbot, "juggernaut-xl.safetensors", "useAsTeacher")
    click(window, qtbot, TINY_LORA, "useAsAdapter")
    assert window.session.student_model.endswith(f"#lora={models / TINY_LORA}")


def test_the_embedded_teacher_is_not_an_sd_model(window, models, qtbot):
    if model_family(window.session.models, window.session.teacher_model) != "Emoji":
        pytest.skip("the embedded teacher is not installed in this checkout")
    click(window, qtbot, SD15_LORA, "useAsAdapter")
    assert "is an Emoji model" in window.banner.message()


def test_the_lora_student_survives_a_restart(window, models, qtbot, tmp_path):
    click(window, qtbot, "dreamshaper.safetensors", "useAsTeacher")
    click(window, qtbot, SD15_LORA, "useAsAdapter")
    student = window.session.student_model
    window.close()
    second = make_window(tmp_path, FakeEngine(), qtbot)
    assert (second.session.student_model, second.session.compare_mode) == (student, True)
    panel_title = second.controls.student_panel.title()
    assert panel_title == "Student"
    assert second.controls.model_combo.current_pair().student == student


def test_a_lora_whose_file_is_gone_names_the_file(window, models, qtbot):
    click(window, qtbot, "dreamshaper.safetensors", "useAsTeacher")
    click(window, qtbot, SD15_LORA, "useAsAdapter")
    (models / SD15_LORA).unlink()
    assert window.generate() == []
    assert window.banner.message() == f"There is no LoRA file at {models / SD15_LORA}."
