"""File > Engine settings…: the dialog maps EngineOptions both ways, OK saves them and sends
Configure (applied after a running job), Cancel changes nothing, the answer shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialogButtonBox, QLabel

from studio.core.commands import Configure
from studio.core.engine_options import MAX_CACHED_MODELS, Device, EngineOptions, Offload
from studio.core.events import JobFailed
from studio.core.settings import Settings, load_settings, save_settings
from studio.ui.engine_dialog import (
    APPLY_LATER,
    APPLYING,
    AUTOMATIC,
    BUSY_NOTE,
    EngineSettingsDialog,
)
from studio.ui.main_window import MainWindow
from studio.viewmodels.settings import SettingsViewModel
from tests.ui.test_main_window import make_window
from tests.viewmodels.fake_engine import FakeEngine

CUSTOM = EngineOptions(
    device=Device.cuda, offload=Offload.model, ram_budget_mb=4096, gpu_budget_mb=0, max_models=2
)
OTHER = EngineOptions(
    device=Device.cpu, offload=Offload.sequential, ram_budget_mb=0, gpu_budget_mb=6144, max_models=5
)


@pytest.mark.parametrize("options", [EngineOptions(), CUSTOM, OTHER], ids=["default", "a", "b"])
def test_fields_show_the_options_and_read_back_the_same(qtbot, options: EngineOptions):
    dialog = EngineSettingsDialog(options)
    qtbot.addWidget(dialog)
    assert dialog.options() == options
    assert dialog.device.currentData() == options.device.value
    assert dialog.offload.currentData() == options.offload.value
    assert dialog.max_models.value() == options.max_models


def test_a_budget_of_zero_shows_as_automatic_and_reads_back_as_zero(qtbot):
    dialog = EngineSettingsDialog(CUSTOM)
    qtbot.addWidget(dialog)
    assert dialog.gpu_budget.text() == AUTOMATIC
    assert dialog.ram_budget.text() == "4,096 MB"
    dialog.ram_budget.setValue(0)
    dialog.gpu_budget.setValue(2048)
    assert dialog.ram_budget.text() == AUTOMATIC
    read = dialog.options()
    assert (read.ram_budget_mb, read.gpu_budget_mb) == (0, 2048)


def test_fields_keep_to_the_ranges_the_settings_file_accepts(qtbot):
    dialog = EngineSettingsDialog(EngineOptions())
    qtbot.addWidget(dialog)
    dialog.max_models.setValue(MAX_CACHED_MODELS + 5)
    dialog.ram_budget.setValue(-1)
    assert dialog.options().max_models == MAX_CACHED_MODELS
    assert dialog.options().ram_budget_mb == 0
    assert [dialog.device.itemData(i) for i in range(dialog.device.count())] == [
        d.value for d in Device
    ]


def test_the_offload_help_is_the_offload_explanation(qtbot):
    dialog = EngineSettingsDialog(EngineOptions())
    qtbot.addWidget(dialog)
    help_text = dialog.findChild(QLabel, "offloadHelp").text()
    assert "How much of a model waits in CPU RAM" in help_text
    assert "<b>Sequential</b> moves one layer at a time" in help_text
    assert "needs a CUDA GPU" in help_text


def press(dialog: EngineSettingsDialog, which: QDialogButtonBox.StandardButton, qtbot) -> None:
    qtbot.mouseClick(dialog.buttons.button(which), Qt.MouseButton.LeftButton)


@pytest.fixture
def window(tmp_path: Path, engine: FakeEngine, qtbot) -> MainWindow:
    save_settings(tmp_path / "settings.json", Settings(engine=CUSTOM, welcomed=True))
    return make_window(tmp_path, engine, qtbot)


def configures(engine: FakeEngine) -> list[EngineOptions]:
    return [c.options for c in engine.sent if isinstance(c, Configure)]


def test_the_action_opens_the_dialog_on_the_saved_options(window: MainWindow, qtbot):
    action = window.window_actions.engine_settings
    assert action.shortcut() == QKeySequence("Ctrl+,")
    file_menu = window.menuBar().actions()[0].menu()
    assert action in file_menu.actions()
    action.trigger()
    dialog = window.findChild(EngineSettingsDialog, "engineSettingsDialog")
    assert dialog is not None and dialog.isVisible()
    assert dialog.options() == CUSTOM
    assert dialog.findChild(QLabel, "busyNote") is None


def test_ok_saves_the_options_sends_them_and_shows_the_answer(
    window: MainWindow, engine: FakeEngine, tmp_path: Path, qtbot
):
    dialog = window.engine_settings.open()
    dialog.set_options(OTHER)
    press(dialog, QDialogButtonBox.StandardButton.Ok, qtbot)
    assert configures(engine) == [OTHER]
    assert window.status_line.text() == APPLYING
    assert window.settings.engine == CUSTOM, "saved only once the engine has applied them"
    engine.pump(window.session.handle)
    assert (
        window.status_line.text() == "Engine settings applied: cpu, up to 5 models (fake engine)."
    )
    assert load_settings(tmp_path / "settings.json")[0].engine == OTHER
    assert window.settings.engine == OTHER


def test_cancel_changes_nothing(window: MainWindow, engine: FakeEngine, tmp_path: Path, qtbot):
    before = (tmp_path / "settings.json").read_bytes()
    dialog = window.engine_settings.open()
    dialog.set_options(OTHER)
    press(dialog, QDialogButtonBox.StandardButton.Cancel, qtbot)
    assert configures(engine) == []
    assert window.settings.engine == CUSTOM
    assert (tmp_path / "settings.json").read_bytes() == before


def test_while_a_job_runs_the_settings_apply_after_it(
    window: MainWindow, engine: FakeEngine, qtbot
):
    sent = window.generate()
    assert sent and window.session.busy
    dialog = window.engine_settings.open()
    assert dialog.findChild(QLabel, "busyNote").text() == f"<b>{BUSY_NOTE}</b>"
    dialog.set_options(OTHER)
    press(dialog, QDialogButtonBox.StandardButton.Ok, qtbot)
    assert window.status_line.text() == APPLY_LATER
    seen: list[str] = []
    window.session.engineConfigured.connect(lambda _text: seen.append("configured"))
    window.session.busyChanged.connect(lambda busy: seen.append(f"busy={busy}"))
    engine.pump(window.session.handle)
    assert seen == ["busy=False", "configured"]
    assert window.status_line.text().startswith("Engine settings applied")


def test_a_refused_configure_shows_its_sentence_and_saves_nothing(
    window: MainWindow, tmp_path: Path, qtbot
):
    before = (tmp_path / "settings.json").read_bytes()
    window.engine_settings.apply(OTHER)
    message = "Engine settings not applied: CUDA was asked for. The engine keeps its settings."
    window.session.handle(JobFailed(job_id="", message=message))
    assert window.banner.kind == "error"
    assert message in window.banner.text.text()
    assert window.settings.engine == CUSTOM
    assert (tmp_path / "settings.json").read_bytes() == before


def test_the_settings_view_model_round_trips_engine_options(tmp_path: Path, qapp):
    model = SettingsViewModel(tmp_path / "settings.json")
    model.load()
    changes: list[bool] = []
    model.changed.connect(lambda: changes.append(True))
    model.engine = OTHER
    model.engine = OTHER
    assert changes == [True], "an unchanged value emits nothing"
    assert model.save()
    again = SettingsViewModel(tmp_path / "settings.json")
    assert again.load().engine == OTHER


def test_an_engine_that_is_gone_refuses_the_settings_in_one_sentence(
    window: MainWindow, engine: FakeEngine
):
    engine.close()
    assert not window.engine_settings.apply(OTHER)
    assert window.banner.kind == "error"
    assert "The engine did not take the new settings" in window.banner.text.text()
