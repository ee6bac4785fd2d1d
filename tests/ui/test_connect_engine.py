"""File > Connect to engine…: the dialog checks the URL and token, remembers them (the token in
a private file), and the window swaps its engine at run time: a served engine named on the
status bar, and back to this computer."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest
import qasync
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialogButtonBox

from studio.app import StudioApp
from studio.core.engine_token_file import TOKEN_FILE
from studio.core.settings import load_settings
from studio.ui.connect_dialog import (
    SHORT_TOKEN,
    SPACE_IN_TOKEN,
    ConnectDialog,
    EngineChoice,
)
from studio.ui.main_window import RESTART_REMOTE, MainWindow
from studio.viewmodels.settings import SettingsViewModel
from studio.worker.remote_engine import RemoteEngine
from tests.ui.test_main_window import geometry_store, make_window
from tests.viewmodels.fake_engine import FakeEngine
from tests.worker.test_remote_engine import Script, serve

TOKEN = "s3cret-token-0123456789"


def open_dialog(window: MainWindow) -> ConnectDialog:
    window.window_actions.connect_engine.trigger()
    shown = [d for d in window.findChildren(ConnectDialog, "connectDialog") if d.isVisible()]
    assert len(shown) == 1
    return shown[0]


def ok(dialog: ConnectDialog):
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


@pytest.fixture
def window(tmp_path: Path, qtbot) -> MainWindow:
    return make_window(tmp_path, FakeEngine(), qtbot)


def test_the_actions_sit_in_the_file_menu_and_no_shortcut_clashes(window: MainWindow):
    actions = window.window_actions
    assert actions.connect_engine.shortcut() == QKeySequence("Ctrl+Shift+E")
    file_menu = window.menuBar().actions()[0].menu().actions()
    assert actions.connect_engine in file_menu and actions.local_engine in file_menu
    keys = [
        key.toString()
        for action in window.findChildren(QAction)
        for key in action.shortcuts()
        if not key.isEmpty()
    ]
    assert len(keys) == len(set(keys))


def test_the_status_bar_names_this_computer_until_another_engine_is_used(window: MainWindow):
    assert window.engine_label.text() == "Engine: this computer"
    assert not window.window_actions.local_engine.isEnabled()
    window.show_engine("http://gpu-box:8000")
    assert window.engine_label.text() == "Engine: http://gpu-box:8000"
    assert window.window_actions.local_engine.isEnabled()


@pytest.mark.parametrize(
    ("url", "token", "problem"),
    [
        ("", "", "names no host"),
        ("ftp://gpu-box", "", "must start with http:// or https://"),
        ("http://gpu-box:99999", "", "invalid port"),
        ("http://gpu-box/?a=1", "", "no query"),
        ("gpu-box", "short", SHORT_TOKEN),
        ("gpu-box", "two words and more", SPACE_IN_TOKEN),
    ],
)
def test_an_unusable_url_or_token_is_said_inline_and_the_dialog_stays(
    window: MainWindow, qtbot, url: str, token: str, problem: str
):
    asked = []
    window.engine_connect.connectRequested.connect(lambda *a: asked.append(a))
    dialog = open_dialog(window)
    dialog.url.setText(url)
    dialog.token.setText(token)
    qtbot.mouseClick(ok(dialog), Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and not dialog.problem.isHidden()
    assert problem in dialog.problem.text()
    assert dialog.problem.text().endswith(".") and dialog.problem.text().count(". ") == 0
    assert not asked
    qtbot.keyClicks(dialog.url, "x")
    assert dialog.problem.isHidden()


def test_a_usable_url_is_written_out_in_full_and_the_token_hidden(window: MainWindow, qtbot):
    asked = []
    window.engine_connect.connectRequested.connect(lambda *a: asked.append(a))
    dialog = open_dialog(window)
    assert dialog.token.echoMode() == dialog.token.EchoMode.Password
    qtbot.keyClicks(dialog.url, " gpu-box ")
    qtbot.keyClicks(dialog.token, TOKEN)
    qtbot.mouseClick(ok(dialog), Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert asked == [("http://gpu-box:8000", TOKEN)]
    assert window.settings.engine_url == ""
    assert not window.settings.token_path.exists()


def test_remembering_keeps_the_url_in_the_settings_and_the_token_private(
    window: MainWindow, tmp_path: Path, qtbot
):
    dialog = open_dialog(window)
    dialog.url.setText("https://gpu-box:8443/studio")
    dialog.token.setText(TOKEN)
    dialog.remember.setChecked(True)
    qtbot.mouseClick(ok(dialog), Qt.MouseButton.LeftButton)
    saved, notice = load_settings(tmp_path / "settings.json")
    assert notice is None and saved.engine_url == "https://gpu-box:8443/studio"
    token_file = tmp_path / TOKEN_FILE
    assert token_file.read_text("utf-8").strip() == TOKEN
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert TOKEN not in (tmp_path / "settings.json").read_text("utf-8")

    later = SettingsViewModel(tmp_path / "settings.json")
    later.load()
    assert later.remembered_engine() == ("https://gpu-box:8443/studio", TOKEN)
    again = open_dialog(make_window(tmp_path, FakeEngine(), qtbot))
    assert (again.url.text(), again.token.text()) == ("https://gpu-box:8443/studio", TOKEN)
    assert again.remember.isChecked()


def test_not_remembering_forgets_the_remembered_engine(window: MainWindow, tmp_path: Path, qtbot):
    window.engine_connect.choose(EngineChoice("http://gpu-box:8000", TOKEN, remember=True))
    assert (tmp_path / TOKEN_FILE).exists()
    dialog = open_dialog(window)
    dialog.remember.setChecked(False)
    qtbot.mouseClick(ok(dialog), Qt.MouseButton.LeftButton)
    assert load_settings(tmp_path / "settings.json")[0].engine_url == ""
    assert not (tmp_path / TOKEN_FILE).exists()


def test_restarting_a_served_engine_says_it_restarts_on_its_server(window: MainWindow):
    window.session.use_engine(RefusingEngine())
    window.show_engine("http://gpu-box:8000")
    assert window.restart_engine() is False
    assert window.banner.message() == RESTART_REMOTE


class RefusingEngine(FakeEngine):
    """A fake engine that, like a served one, cannot be restarted from the window."""

    def restart(self) -> bool:
        return False


def test_the_window_swaps_to_a_served_engine_and_back(tmp_path: Path, qapp):
    script = Script()
    server = serve(script)
    url = f"http://127.0.0.1:{server.server_port}"
    first, local = FakeEngine(delay_s=0.0005), FakeEngine(delay_s=0.0005)
    studio = StudioApp(
        settings_path=tmp_path / "settings.json",
        gallery_dir=tmp_path / "gallery",
        geometry=geometry_store(tmp_path),
        client=first,
        local_engine=lambda: local,
    )
    window = studio.window

    async def until(check, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not check():
                await asyncio.sleep(0.01)

    async def scenario() -> int:
        running = asyncio.ensure_future(studio.run())
        await until(window.isVisible)
        window.engine_connect.connectRequested.emit(url, TOKEN)
        served = studio.client
        assert isinstance(served, RemoteEngine) and served is not first
        assert window.engine_label.text() == f"Engine: {url}"
        await until(lambda: window.status_line.text().startswith("Connected to the engine at"))
        assert url in window.status_line.text()
        await until(lambda: first.closed)
        window.generate()
        await until(lambda: script.jobs == 1 and not studio.session.busy)
        assert window.engine_failure == ""

        window.window_actions.local_engine.trigger()
        assert studio.client is local and studio.engine_url == ""
        assert window.engine_label.text() == "Engine: this computer"
        await until(lambda: not served.alive)
        window.generate()
        await until(lambda: bool(local.jobs) and not studio.session.busy)
        window.close()
        return await asyncio.wait_for(running, timeout=10)

    loop = qasync.QEventLoop(qapp)
    try:
        assert loop.run_until_complete(scenario()) == 0
    finally:
        loop.close()
        server.shutdown()
        server.server_close()


def test_an_engine_given_at_start_gets_its_remembered_token(tmp_path: Path, qtbot):
    remembered = SettingsViewModel(tmp_path / "settings.json")
    remembered.load()
    remembered.remember_engine("http://gpu-box:8000", TOKEN)
    asked: list[tuple[str, str]] = []

    def remote(url: str, token: str) -> FakeEngine:
        asked.append((url, token))
        return FakeEngine()

    for url in ("http://gpu-box:8000", "http://other-box:8000"):
        studio = StudioApp(
            settings_path=tmp_path / "settings.json",
            gallery_dir=tmp_path / "gallery",
            geometry=geometry_store(tmp_path),
            engine_url=url,
            remote_engine=remote,
        )
        qtbot.addWidget(studio.window)
    assert asked == [("http://gpu-box:8000", TOKEN), ("http://other-box:8000", "")]
