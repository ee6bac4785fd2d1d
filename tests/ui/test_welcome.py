"""The first-run welcome and the About box, offscreen with pytest-qt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QDialog

from studio import __version__
from studio.app import StudioApp, make_application
from studio.core.jobs import CompareJob, GenerateJob
from studio.core.settings import Settings, SharedParams, load_settings, save_settings
from studio.desktop import APP_ID
from studio.ui.about import AboutDialog, about_html
from studio.ui.welcome import SUGGESTED_PROMPT, WelcomePanel
from studio.viewmodels.model_pairs import ModelPairs, alone_pair
from tests.viewmodels.fake_engine import FakeEngine


def start(tmp_path: Path, qtbot, engine: FakeEngine | None = None) -> StudioApp:
    studio = StudioApp(
        settings_path=tmp_path / "settings.json",
        gallery_dir=tmp_path / "gallery",
        geometry=QSettings(str(tmp_path / "geometry.ini"), QSettings.Format.IniFormat),
        client=engine or FakeEngine(),
    )
    qtbot.addWidget(studio.window)
    studio.window.show()
    qtbot.waitExposed(studio.window)
    studio.window.activateWindow()
    qtbot.waitActive(studio.window)
    return studio


def panel_of(studio: StudioApp) -> WelcomePanel | None:
    return studio.window.findChild(WelcomePanel, "welcomePanel")


def test_a_first_run_shows_the_welcome_with_the_default_pair_and_a_prompt(tmp_path, qtbot):
    studio = start(tmp_path, qtbot)
    panel = panel_of(studio)
    assert panel is not None and panel.isVisible()
    assert studio.window.centre_column.indexOf(panel) == 0
    s = studio.session
    assert s.prompt == SUGGESTED_PROMPT
    assert studio.window.controls.prompt_edit.toPlainText() == SUGGESTED_PROMPT
    pair = ModelPairs(studio.models).default()
    assert (s.teacher_model, s.student_model if s.compare_mode else None) == pair.key
    qtbot.waitUntil(panel.generate_button.hasFocus)
    assert "Studio draws images" in panel.accessibleDescription()


def test_the_welcome_leaves_the_settings_of_an_earlier_version_alone(tmp_path, qtbot):
    earlier = Settings(shared=SharedParams(prompt="an old prompt"), compare_mode=False)
    save_settings(tmp_path / "settings.json", earlier)
    studio = start(tmp_path, qtbot)
    assert panel_of(studio) is not None
    assert studio.session.prompt == "an old prompt" and not studio.session.compare_mode


def test_closing_the_welcome_is_remembered(tmp_path, qtbot):
    studio = start(tmp_path, qtbot)
    panel = panel_of(studio)
    qtbot.mouseClick(panel.close_button, Qt.MouseButton.LeftButton)
    assert studio.window.welcome.panel is None and not panel.isVisible()
    assert load_settings(tmp_path / "settings.json")[0].welcomed
    studio.window.close()
    again = start(tmp_path, qtbot)
    assert panel_of(again) is None
    assert again.session.prompt == SUGGESTED_PROMPT


def test_the_keyboard_reaches_both_buttons(tmp_path, qtbot):
    studio = start(tmp_path, qtbot)
    panel = panel_of(studio)
    qtbot.waitUntil(panel.generate_button.hasFocus)
    qtbot.keyClick(panel.generate_button, Qt.Key.Key_Tab)
    assert panel.close_button.hasFocus()
    qtbot.keyClick(panel.close_button, Qt.Key.Key_Space)
    assert studio.window.welcome.panel is None
    assert studio.settings.welcomed


def test_enter_on_generate_runs_the_suggested_prompt_on_the_default_pair(tmp_path, qtbot):
    engine = FakeEngine()
    studio = start(tmp_path, qtbot, engine)
    studio.session.prompt = "something else"
    default = ModelPairs(studio.models).default()
    studio.window.apply_pair(alone_pair(default.teacher))
    assert not studio.session.compare_mode
    panel = panel_of(studio)
    panel.generate_button.setFocus()
    qtbot.keyClick(panel.generate_button, Qt.Key.Key_Return)
    (job,) = engine.jobs
    lanes = [job.teacher, job.student] if isinstance(job, CompareJob) else [job.lane]
    assert isinstance(job, CompareJob | GenerateJob)
    assert {lane.params.prompt for lane in lanes} == {SUGGESTED_PROMPT}
    assert lanes[0].model.location == default.teacher
    assert isinstance(job, CompareJob) == default.compare
    assert studio.window.welcome.panel is None
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved["welcomed"] is True


def test_help_welcome_shows_it_again(tmp_path, qtbot):
    save_settings(tmp_path / "settings.json", Settings(welcomed=True))
    studio = start(tmp_path, qtbot)
    assert panel_of(studio) is None
    studio.window.window_actions.welcome.trigger()
    assert panel_of(studio) is not None and panel_of(studio).isVisible()


def test_a_non_boolean_welcomed_falls_back_to_showing_the_welcome(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text('{"version": 1, "welcomed": "yes"}')
    settings, notice = load_settings(path)
    assert settings.welcomed is False and notice is None


@pytest.mark.parametrize(
    "words",
    [
        __version__,
        "Apache License 2.0",
        "PySide6",
        "LGPL",
        "PyTorch (BSD-3-Clause)",
        "diffusers",
        "Noto Color Emoji",
        "SIL Open Font",
        "Twemoji graphics by Twitter, Inc. and other contributors, licensed under CC-BY 4.0",
        "creativecommons.org/licenses/by/4.0",
        "all-MiniLM-L6-v2",
    ],
)
def test_the_about_text_has_the_version_licences_and_credits(words: str) -> None:
    assert words in " ".join(about_html().split())


def test_help_about_opens_a_dialog_that_escape_closes(tmp_path, qtbot):
    studio = start(tmp_path, qtbot)
    help_menu = studio.window.menuBar().actions()[-1].menu()
    assert help_menu.title() == "&Help"
    assert studio.window.window_actions.about in help_menu.actions()
    studio.window.window_actions.about.trigger()
    dialog = studio.window.findChild(AboutDialog, "aboutDialog")
    assert dialog is not None
    qtbot.waitExposed(dialog)
    assert f"Studio {__version__}" in dialog.text.text()
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.result() == QDialog.DialogCode.Rejected and not dialog.isVisible()
    QApplication.processEvents()


def test_the_application_names_its_desktop_file_and_shows_the_icon(qapp) -> None:
    kept = (qapp.applicationName(), qapp.organizationName(), qapp.applicationDisplayName())
    kept_file, kept_icon = qapp.desktopFileName(), qapp.windowIcon()
    try:
        app = make_application()
        assert app is qapp and app.desktopFileName() == APP_ID
        assert not app.windowIcon().isNull()
        assert app.windowIcon().availableSizes()[0].width() == 256
    finally:
        qapp.setApplicationName(kept[0])
        qapp.setOrganizationName(kept[1])
        qapp.setApplicationDisplayName(kept[2])
        qapp.setDesktopFileName(kept_file)
        qapp.setWindowIcon(kept_icon)
