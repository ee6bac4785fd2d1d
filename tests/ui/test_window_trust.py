"""Issue 16 items 6-9 in the real window: messages that end with their state, results that are
seen, the keyboard, and captions that say what is shown."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QScrollArea

from studio.core.engine_options import EngineOptions
from studio.core.events import EngineStatus, Event, JobFailed, PreviewReady
from studio.ui.engine_dialog import APPLYING, KEPT
from tests.ui.test_main_window import child, finish, make_window, pump_until
from tests.viewmodels.fake_engine import FAIL_MESSAGE, FakeEngine


@pytest.fixture
def window(tmp_path, engine: FakeEngine, qtbot):
    return make_window(tmp_path, engine, qtbot)


def test_a_loading_status_ends_when_the_job_fails(window, engine) -> None:
    engine.fail_at_step = 1
    window.generate()
    window.set_engine_status("Loading stable-diffusion-2-1-base…")
    finish(window, engine)
    assert FAIL_MESSAGE in window.banner.message()
    assert "Loading" not in window.status_line.text()


def test_a_loading_status_ends_when_the_work_is_done(window, engine) -> None:
    window.generate()
    window.set_engine_status("Loading emoji-teacher…")
    finish(window, engine)
    assert window.status_line.text() == "Ready."


def test_an_engine_status_event_reaches_the_status_line(window, engine) -> None:
    engine.announce("Loading emoji-teacher…")
    engine.pump(window.session.handle)
    assert window.status_line.text() == "Loading emoji-teacher…"
    window.generate()
    engine.announce("Ready · emoji-teacher loaded on cpu in 1.2 s")
    shown: list[str] = []

    def handle(event: Event) -> None:
        window.session.handle(event)
        if isinstance(event, EngineStatus):
            shown.append(window.status_line.text())

    engine.pump(handle)
    assert shown == ["emoji-teacher loaded on cpu in 1.2 s"], "told while busy"
    assert window.status_line.text() == "Ready.", "a report made during a job ends with it"
    engine.announce("Ready · emoji-teacher loaded on cpu in 1.2 s")
    engine.pump(window.session.handle)
    assert window.status_line.text() == "Ready · emoji-teacher loaded on cpu in 1.2 s"


def test_refused_engine_settings_end_the_applying_message(window) -> None:
    assert window.engine_settings.apply(EngineOptions())
    assert window.status_line.text() == APPLYING
    window.session.handle(JobFailed(job_id="", message="CUDA is not available here."))
    assert window.status_line.text() == KEPT
    assert "CUDA" in window.banner.message()


def test_an_error_banner_ends_when_the_recipe_it_was_about_changes(window, engine) -> None:
    engine.fail_at_step = 2
    window.generate()
    finish(window, engine)
    assert window.banner.isVisible() and window.banner.kind == "error"
    window.session.teacher.sampler = "Euler"
    assert not window.banner.isVisible()


def test_the_engine_failure_banner_stays_while_editing(window) -> None:
    window.set_engine_failed("The engine is not running: torch could not be imported.")
    window.session.teacher.num_inference_steps = 12
    assert window.banner.isVisible() and "torch" in window.banner.message()


def test_generate_from_the_models_tab_shows_compare(window, engine, qtbot) -> None:
    qtbot.keyClick(window, Qt.Key.Key_4, Qt.KeyboardModifier.AltModifier)
    assert window.current_page() is window.library_panel
    qtbot.keyClick(
        child(window, "promptEdit"), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier
    )
    assert engine.jobs and window.current_page() is window.preview


def test_fit_and_actual_size_are_in_the_view_menu_and_work_without_a_focused_pane(
    window, engine, qtbot
) -> None:
    window.generate()
    finish(window, engine)
    view = window.comparison.teacher_view
    texts = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert "View" in texts
    actions = window.window_actions
    assert actions.fit.shortcut().toString() == "Ctrl+0"
    assert actions.actual_size.shortcut().toString() == "Ctrl+1"
    prompt = child(window, "promptEdit")
    prompt.setFocus()
    qtbot.keyClick(prompt, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert view.zoom() == pytest.approx(1.0)
    assert window.comparison.student_view.zoom() == pytest.approx(1.0)
    qtbot.keyClick(prompt, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert view.is_fit() and view.zoom() > 1.0
    assert window.comparison.mode() == "side_by_side"


def test_no_scroll_area_of_the_window_takes_focus(window) -> None:
    scroll = window.findChild(QScrollArea, "controlsScroll")
    assert scroll.focusPolicy() == Qt.FocusPolicy.NoFocus
    for index in (1, 2):  # the Grid and Convergence pages scroll when the window is short
        page = window.tabs.widget(index)
        assert isinstance(page, QScrollArea) and page.focusPolicy() == Qt.FocusPolicy.NoFocus


def test_the_welcome_buttons_come_first_in_the_tab_order(window) -> None:
    panel = window.welcome.show()
    QApplication.processEvents()
    prompt = child(window, "promptEdit")
    assert panel.generate_button.nextInFocusChain() is panel.close_button
    assert panel.close_button.nextInFocusChain() is prompt
    assert prompt.previousInFocusChain() is panel.close_button


def test_stop_and_keep_says_the_kept_step_and_that_the_student_never_ran(
    window, engine, qtbot
) -> None:
    window.generate()
    rest = pump_until(window, engine, PreviewReady)
    qtbot.mouseClick(child(window, "stopButton"), Qt.MouseButton.LeftButton)
    for event in rest:
        window.session.handle(event)
    QApplication.processEvents()
    teacher = window.session.teacher
    progress = window.preview.progress["teacher"].text()
    assert progress == f"stopped at step {teacher.steps}/25 · partial image kept"
    assert f"· {teacher.steps} steps ·" in window.comparison.teacher_view.caption()
    student_caption = window.comparison.student_view.caption()
    assert "did not run: the job was stopped before this lane began" in student_caption
    assert window.preview.progress["student"].text() == "stopped before its first step"


def test_a_model_loaded_during_a_job_does_not_say_ready(window, engine) -> None:
    window.generate()
    window.set_engine_status("Ready · emoji-teacher loaded on cpu in 1.2 s")
    assert window.status_line.text() == "emoji-teacher loaded on cpu in 1.2 s"
    finish(window, engine)
    window.set_engine_status("Ready · emoji-teacher loaded on cpu in 1.2 s")
    assert window.status_line.text().startswith("Ready")
