"""PNG files dropped anywhere on the window, even on a text field, load their parameters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QWidget

DragEvent = QDragEnterEvent | QDragMoveEvent | QDropEvent
_DRAG_TYPES = (QEvent.Type.DragEnter, QEvent.Type.DragMove)


def dropped_pngs(event: DragEvent) -> list[Path]:
    """The local PNG files a drag carries."""
    mime = event.mimeData()
    urls = mime.urls() if mime.hasUrls() else []
    paths = [Path(url.toLocalFile()) for url in urls if url.isLocalFile()]
    return [path for path in paths if path.suffix.lower() == ".png"]


class PngDropRouter(QObject):
    """Accepts drags of PNG files over a window and its children, and hands the first to `load`.

    Text fields accept drops themselves (they would insert the file's URL as text), so the
    router filters their events too; drags of anything else pass through untouched.
    """

    def __init__(self, window: QWidget, load: Callable[[Path], object]) -> None:
        super().__init__(window)
        self._load = load
        window.setAcceptDrops(True)
        for widget in [window, *window.findChildren(QWidget)]:
            if widget.acceptDrops():
                widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        # PySide6 hands filters the concrete class (QDragEnterEvent and QDragMoveEvent are
        # QDropEvents), so the isinstance check only narrows the type.
        if kind not in (*_DRAG_TYPES, QEvent.Type.Drop) or not isinstance(event, QDropEvent):
            return False
        pngs = dropped_pngs(event)
        if not pngs:
            return False
        event.acceptProposedAction()
        if kind == QEvent.Type.Drop:
            self._load(pngs[0])
        return True
