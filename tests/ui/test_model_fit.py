"""Settings that cannot work are not offered, and warnings appear while editing (issue 16):
samplers of another model kind are greyed with the reason and refused by Generate, LCM warns
where it does not belong, a pair gets its own teacher recipe, an emoji model warns about a
prompt it has no word for, and the Models tab lists the built-in models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox

from studio.core.commands import Submit
from studio.core.samplers import SAMPLER_NAMES
from studio.core.settings import default_teacher
from studio.ui.main_window import MainWindow
from tests.ui.test_main_window import child, make_window
from tests.ui.test_preset_picker import choose, shipped_catalogue  # noqa: F401 (autouse)
from tests.viewmodels.fake_engine import FakeEngine

FLOW_MISFIT = "'Flow Euler' is for flow-matching models; emoji-teacher is a DDPM-family (VP) model."


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def window(tmp_path: Path, engine: FakeEngine, qtbot) -> MainWindow:
    return make_window(tmp_path, engine, qtbot)


def flow_folder(folder: Path) -> Path:
    """A diffusers folder of a flow-matching model: only the files that say so."""
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline"}))
    (folder / "scheduler").mkdir()
    config = {"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0}
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(config))
    return folder


def item_state(combo: QComboBox, name: str) -> tuple[bool, str]:
    item = combo.model().item(combo.findText(name))
    return item.isEnabled(), item.toolTip()


def messages(window: MainWindow, lane: str) -> str:
    label = child(window, f"{lane}Messages")
    return label.text() if label.isVisible() else ""


def test_flow_samplers_are_greyed_for_the_emoji_models_with_the_reason(window):
    for lane in ("teacher", "student"):
        combo = child(window, f"{lane}Sampler")
        enabled, tip = item_state(combo, "Flow Euler")
        assert (
            not enabled and "Not offered: 'Flow Euler' is for flow-matching models; emoji-" in tip
        )
        assert not item_state(combo, "Flow Heun")[0]
        assert item_state(combo, "DPM++ 2M")[0] and item_state(combo, "LCM")[0]
    assert item_state(child(window, "teacherSampler"), "Flow Euler")[1].endswith(FLOW_MISFIT)


def test_a_flow_model_folder_offers_the_flow_samplers_only(window, tmp_path):
    window.add_model_folder(flow_folder(tmp_path / "my-flux"))
    combo = child(window, "teacherSampler")
    assert item_state(combo, "Flow Euler")[0] and item_state(combo, "Flow Heun")[0]
    enabled, tip = item_state(combo, "DPM++ 2M")
    assert not enabled and tip.endswith(
        "\nNot offered: 'DPM++ 2M' is for DDPM-family (VP) models;"
        " my-flux is a flow-matching model."
    )
    assert sum(item_state(combo, name)[0] for name in SAMPLER_NAMES) == 2
    assert "'DPM++ 2M' is for DDPM-family (VP) models" in messages(window, "teacher")


def test_generate_refuses_a_flow_sampler_on_the_emoji_teacher_before_sending(window, engine):
    window.session.teacher.sampler = "Flow Euler"  # as a restored recipe would set it
    assert child(window, "teacherSampler").currentText() == "Flow Euler"
    assert FLOW_MISFIT in messages(window, "teacher")
    assert FLOW_MISFIT in child(window, "teacherSampler").toolTip()
    assert window.generate() == []
    assert not [c for c in engine.sent if isinstance(c, Submit)]
    assert window.banner.message() == f"Teacher: {FLOW_MISFIT}"
    child(window, "teacherSampler").setCurrentText("DPM++ 2M")
    assert FLOW_MISFIT not in messages(window, "teacher")
    assert len(window.generate()) == 1


def test_lcm_at_20_steps_on_the_teacher_warns(window):
    child(window, "teacherSampler").setCurrentText("LCM")
    child(window, "teacherSteps").setValue(20)
    text = messages(window, "teacher")
    assert "LCM is made for LCM- or TCD-distilled models, and emoji-teacher is not one" in text
    assert "LCM is a few-step sampler" in text and "use 1 to 8 steps; 20 take longer" in text
    child(window, "teacherSteps").setValue(8)
    assert "few-step sampler" not in messages(window, "teacher")


def test_the_lcm_student_takes_lcm_without_a_warning(window):
    window.session.student_model = "emoji-student-lcm"
    child(window, "studentSampler").setCurrentText("LCM")
    child(window, "studentSteps").setValue(4)
    assert messages(window, "student") == ""


def test_back_from_a_preset_to_the_emoji_pair_restores_the_teacher_recipe(window):
    choose(window, "SD-Turbo")
    turbo = window.session.models.preset("SD-Turbo")
    assert turbo is not None and window.session.teacher.recipe == turbo.teacher
    assert window.session.teacher.sampler == "DPM++ 2M Karras"
    combo = window.controls.model_combo
    row = combo.row_of("emoji-teacher", None)
    assert row is not None
    combo.setCurrentIndex(row)
    combo.activated.emit(row)
    assert window.session.teacher_model == "emoji-teacher"
    assert window.session.teacher.recipe == default_teacher()
    assert child(window, "teacherSampler").currentText() == default_teacher().sampler
    assert child(window, "teacherGuidance").value() == default_teacher().guidance_scale


def test_a_teacher_recipe_survives_the_same_teacher_and_a_restart(tmp_path, engine, qtbot):
    window = make_window(tmp_path, engine, qtbot)
    child(window, "teacherSteps").setValue(40)
    combo = window.controls.model_combo
    row = combo.row_of("emoji-teacher", None)
    assert row is not None
    combo.activated.emit(row)  # another pair with the same teacher
    assert window.session.teacher.num_inference_steps == 40
    window.close()
    again = make_window(tmp_path, FakeEngine(), qtbot)
    assert again.session.teacher.num_inference_steps == 40
    assert child(again, "teacherSteps").value() == 40


def test_a_prompt_outside_the_emoji_vocabulary_warns_while_typing(window, qtbot):
    prompt = child(window, "promptEdit")
    prompt.clear()
    qtbot.keyClicks(prompt, "a castle at night")
    text = messages(window, "teacher")
    assert "emoji-teacher only knows emoji names" in text and "'a castle at night'" in text
    prompt.clear()
    qtbot.keyClicks(prompt, "dog face, noto style")
    assert messages(window, "teacher") == "" and messages(window, "student") == ""


def test_the_models_tab_lists_the_built_in_models_on_first_start(window, qtbot):
    library = window.library_panel
    table = library.table
    rows = {table.item(r, 0).text(): r for r in range(table.rowCount())}
    assert {"emoji-teacher", "emoji-student-4step", "emoji-student-lcm"} <= set(rows)
    assert table.item(rows["emoji-teacher"], 2).text() == "built-in folder"
    assert table.item(rows["emoji-student-lcm"], 2).text() == "built-in adapter"
    assert "Ships with Studio" in table.item(rows["emoji-teacher"], 5).text()
    assert "built-in models are listed" in child(window, "librarySummary").text()
    table.selectRow(rows["emoji-student-lcm"])
    assert child(window, "useAsStudent").isEnabled()
    assert not child(window, "useAsTeacher").isEnabled()
    qtbot.mouseClick(child(window, "useAsStudent"), Qt.MouseButton.LeftButton)
    s = window.session
    assert (s.teacher_model, s.student_model, s.compare_mode) == (
        "emoji-teacher",
        "emoji-student-lcm",
        True,
    )
    table.selectRow(rows["emoji-teacher"])
    qtbot.mouseClick(child(window, "useAsTeacher"), Qt.MouseButton.LeftButton)
    assert (s.teacher_model, s.compare_mode) == ("emoji-teacher", False)
    labels = [p.label for p in window.controls.model_combo.pairs()]
    assert len(labels) == len(set(labels)), "built-ins are not offered twice"
