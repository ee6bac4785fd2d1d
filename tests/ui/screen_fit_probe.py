"""Opens the real window on an offscreen screen of a given size and reports what is visible.

Run in a subprocess by test_screen_fit.py: the screen size of Qt's offscreen platform is fixed
when the application starts, so each screen needs its own process.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QRect
from PySide6.QtWidgets import QApplication, QWidget

from studio.core.gallery import GalleryStore
from studio.ui.main_window import MainWindow
from studio.viewmodels.session import SessionViewModel
from studio.viewmodels.settings import SettingsViewModel
from tests.viewmodels.fake_engine import FakeEngine


def inside(widget: QWidget, window: QWidget) -> bool:
    """Whether the whole widget is shown inside the window's client area."""
    if not widget.isVisible():
        return False
    top_left = widget.mapTo(window, widget.rect().topLeft())
    return window.rect().contains(QRect(top_left, widget.size()))


def main() -> None:
    app = QApplication(sys.argv[:1])
    folder = Path(tempfile.mkdtemp())
    settings = SettingsViewModel(folder / "settings.json")
    session = SessionViewModel(
        FakeEngine(), GalleryStore(folder / "gallery"), settings.load(), rng=random.Random(1)
    )
    window = MainWindow(session, settings)
    panel = window.welcome.show()
    window.show()
    app.processEvents()
    available = app.primaryScreen().availableGeometry()
    frame = window.frameGeometry()
    report = {
        "available": [available.width(), available.height()],
        "frame": [frame.x(), frame.y(), frame.width(), frame.height()],
        "frame_inside": available.contains(frame),
        "minimum": [window.minimumSizeHint().width(), window.minimumSizeHint().height()],
        "generate": inside(window.controls.generate_button, window),
        "status_bar": inside(window.statusBar(), window),
        "queue": inside(window.queue_panel, window),
        "history": inside(window.gallery_strip, window),
        "welcome_generate": inside(panel.generate_button, window),
        "welcome_close": inside(panel.close_button, window),
    }
    print(json.dumps(report))
    window.close()


if __name__ == "__main__":
    main()
