"""Saving into a full disk or an unusable folder: the window keeps the images in memory, says
so in one sentence, and offers Save again, which works once there is room or another folder."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from PySide6.QtCore import Qt

from studio.core import atomic
from studio.ui.main_window import MainWindow
from tests.ui.test_main_window import finish, make_window
from tests.viewmodels.fake_engine import FakeEngine


def generate_and_finish(window: MainWindow, engine: FakeEngine) -> None:
    assert window.generate()
    finish(window, engine)


def test_a_full_disk_keeps_the_images_until_save_again(tmp_path: Path, engine, qtbot, monkeypatch):
    window = make_window(tmp_path, engine, qtbot)
    button = window.save_again_button
    assert button.isHidden()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    real_fsync = atomic.os.fsync
    monkeypatch.setattr(atomic.os, "fsync", full)
    generate_and_finish(window, engine)
    folder = tmp_path / "gallery"
    message = window.banner.message()
    assert f"Could not save the teacher image to {folder} (No space left on device)" in message
    assert message.endswith("then press Save again.") and message.count(". ") == 0
    assert list(folder.iterdir()) == [], "no partial or temporary file is left behind"
    assert window.gallery_strip.count() == 0
    assert button.isVisible() and button.text() == "Save again (2)"

    generate_and_finish(window, engine)
    assert button.text() == "Save again (4)", "the next job runs and its images wait too"

    monkeypatch.setattr(atomic.os, "fsync", real_fsync)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert button.isHidden() and window.gallery_strip.count() == 4
    assert len(list(folder.glob("studio-*.png"))) == 4


def test_an_unusable_folder_keeps_the_images_for_another_folder(tmp_path: Path, engine, qtbot):
    window = make_window(tmp_path, engine, qtbot)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the output folder should be")
    window.set_output_folder(blocked)
    generate_and_finish(window, engine)
    assert "so it is kept in memory" in window.banner.message()
    assert window.save_again_button.isVisible()
    assert blocked.read_text() == "a file where the output folder should be"

    elsewhere = tmp_path / "elsewhere"
    window.set_output_folder(elsewhere)
    window.save_again_button.click()
    assert window.save_again_button.isHidden()
    assert len(list(elsewhere.glob("studio-*.png"))) == 2 and window.gallery_strip.count() == 2
