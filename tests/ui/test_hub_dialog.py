"""File > Open hub model…: only a valid org/name id is taken, and it lands on the chosen lane."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from studio.core.models import EMBEDDED_TEACHER
from studio.ui.hub_dialog import VALID_FORM, HubModelDialog, hub_id_problem
from studio.ui.main_window import MainWindow
from tests.ui.test_main_window import make_window

HUB_ID = "stabilityai/sd-turbo"


@pytest.mark.parametrize(
    "text",
    ["sd-turbo", "a/b/c", "org/", "/name", "../etc", "org/na me", "https://hf.co/org/name"],
)
def test_what_is_not_a_hub_id_is_refused_with_the_valid_form(text: str):
    problem = hub_id_problem(text)
    assert problem.startswith(repr(text)) and problem.endswith(VALID_FORM)


@pytest.mark.parametrize("text", ["", "   ", HUB_ID, "  org.x/name_2-b  "])
def test_a_hub_id_or_nothing_has_no_problem(text: str):
    assert hub_id_problem(text) == ""


def test_ok_waits_for_a_valid_id(qtbot):
    dialog = HubModelDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.edit.placeholderText() == HUB_ID
    assert not dialog.ok.isEnabled() and not dialog.error.isVisible()
    qtbot.keyClicks(dialog.edit, "sd-turbo")
    assert not dialog.ok.isEnabled()
    assert dialog.error.isVisible() and VALID_FORM in dialog.error.text()
    dialog.edit.setText(HUB_ID)
    assert dialog.ok.isEnabled() and not dialog.error.isVisible()
    assert (dialog.hub_id, dialog.as_student) == (HUB_ID, False)


def test_enter_on_an_invalid_id_does_not_accept(qtbot):
    dialog = HubModelDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.edit, "not a model")
    qtbot.keyClick(dialog.edit, Qt.Key.Key_Return)
    assert dialog.isVisible() and dialog.result() == 0


@pytest.fixture
def window(tmp_path, engine, qtbot) -> MainWindow:
    return make_window(tmp_path, engine, qtbot)


def open_dialog(window: MainWindow) -> HubModelDialog:
    window.window_actions.open_hub.trigger()
    dialog = window.findChild(HubModelDialog, "hubModelDialog")
    assert dialog is not None and dialog.isVisible()
    return dialog


def test_the_action_sits_in_the_file_menu_with_its_shortcut(window: MainWindow):
    action = window.window_actions.open_hub
    assert action.shortcut() == QKeySequence("Ctrl+Shift+H")
    assert action in window.menuBar().actions()[0].menu().actions()


def test_a_valid_id_becomes_the_teacher(window: MainWindow, qtbot):
    dialog = open_dialog(window)
    qtbot.keyClicks(dialog.edit, f"  {HUB_ID} ")
    qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)
    session = window.session
    assert session.teacher_model == HUB_ID and not session.compare_mode
    pair = window.controls.model_combo.current_pair()
    assert pair is not None and (pair.teacher, pair.student) == (HUB_ID, None)
    assert window.status_line.text().startswith(f"Using {HUB_ID} as the teacher: it downloads")


def test_a_valid_id_becomes_the_student_of_the_current_teacher(window: MainWindow, qtbot):
    teacher = window.session.teacher_model
    dialog = open_dialog(window)
    dialog.edit.setText(HUB_ID)
    dialog.student.setChecked(True)
    qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)
    session = window.session
    assert (session.teacher_model, session.student_model) == (teacher, HUB_ID)
    assert session.compare_mode
    pair = window.controls.model_combo.current_pair()
    assert pair is not None and (pair.teacher, pair.student) == (teacher, HUB_ID)
    assert "as the student" in window.status_line.text()


def test_cancel_leaves_the_models_alone(window: MainWindow, qtbot):
    before = (window.session.teacher_model, window.session.student_model)
    dialog = open_dialog(window)
    dialog.edit.setText(HUB_ID)
    dialog.reject()
    assert (window.session.teacher_model, window.session.student_model) == before
    assert before[0] == EMBEDDED_TEACHER
