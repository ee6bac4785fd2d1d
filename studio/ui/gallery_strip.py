"""The history strip: the gallery's saved images as thumbnails, newest first, each with a
context menu (reveal, copy, delete)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import (
    QContextMenuEvent,
    QDesktopServices,
    QIcon,
    QImageReader,
    QKeyEvent,
    QPainter,
    QPaintEvent,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from studio.core.gallery import GalleryItem
from studio.core.metadata import MetadataError
from studio.core.pngio import read_image
from studio.ui.image_export import copy_to_clipboard
from studio.viewmodels.gallery import LANE_KEY, GalleryViewModel

PATH_ROLE = Qt.ItemDataRole.UserRole + 1
EMPTY_TEXT = "Every finished image is saved as a PNG with its parameters and shown here"
ENTER_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)


def load_icon(path: Path, size: int) -> QIcon:
    """A thumbnail of the PNG at `path`: decoded small when large, crisp pixels when enlarged."""
    reader = QImageReader(str(path))
    original = reader.size()
    if original.isValid() and max(original.width(), original.height()) > 2 * size:
        reader.setScaledSize(original.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        return QIcon()
    longer = max(image.width(), image.height())
    if longer < size:
        side = size // longer * longer
        mode = Qt.TransformationMode.FastTransformation
    else:
        side, mode = size, Qt.TransformationMode.SmoothTransformation
    scaled = image.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, mode)
    pixmap = QPixmap.fromImage(scaled)
    icon = QIcon(pixmap)
    icon.addPixmap(pixmap, QIcon.Mode.Selected)
    return icon


LANE_LABELS = {"teacher": "Teacher", "student": "Student", "main": "Alone"}
LABEL_PROMPT_CHARS = 14


def item_label(item: GalleryItem) -> str:
    """E.g. "grinning face…\nTeacher · 25 steps": the prompt's start, then which lane made it
    (a single-lane run says "Alone") and its steps; the file name when unreadable."""
    parsed = item.parsed
    if parsed is None:
        return item.path.stem
    lane = LANE_LABELS.get(parsed.extra.get(LANE_KEY, ""), "Alone")
    prompt = " ".join(parsed.params.prompt.split()) or "(no prompt)"
    if len(prompt) > LABEL_PROMPT_CHARS:
        prompt = prompt[: LABEL_PROMPT_CHARS - 1].rstrip() + "…"
    return f"{prompt}\n{lane} · {parsed.params.num_inference_steps} steps"


def tooltip_text(item: GalleryItem, width: int = 72) -> str:
    """The file name and its parameters text, wrapped to a readable width."""
    lines = [textwrap.fill(line, width) for line in item.parameters.splitlines()]
    return "\n".join([item.path.name, "", *lines])


class GalleryStrip(QListWidget):
    """Shows the saved images. Clicking one (or Enter) chooses it with its parameters restored,
    the arrow keys move to the next or previous one without restoring, double-clicking opens it.
    """

    entryChosen = Signal(int, bool)  # row, restore the parameters

    def __init__(self, gallery: GalleryViewModel, icon_size: int = 64) -> None:
        super().__init__()
        self.gallery = gallery
        self._icon_size = icon_size
        self._icons: dict[tuple[str, float], QIcon] = {}
        self.setObjectName("galleryList")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setIconSize(QSize(icon_size, icon_size))
        line = self.fontMetrics().height()
        self.setGridSize(QSize(icon_size + 56, icon_size + 2 * line + 10))
        self.setWordWrap(True)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scrollbar = self.horizontalScrollBar().sizeHint().height()
        self.setFixedHeight(icon_size + 2 * line + 18 + scrollbar)
        self.setToolTip(
            "Saved images, newest first: click one to show it and restore its parameters;"
            " ←/→ show the next ones, Enter restores, a double-click opens the file,"
            " right-click to reveal, copy or delete"
        )
        self.itemClicked.connect(self._restore)
        self.itemDoubleClicked.connect(self._open)
        self._show_newest = False
        gallery.saved.connect(self._on_saved)
        gallery.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        self.clear()
        for entry in self.gallery.items:
            item = QListWidgetItem(self._icon(entry.path), item_label(entry))
            item.setData(PATH_ROLE, str(entry.path))
            item.setToolTip(tooltip_text(entry))
            self.addItem(item)
        if self._show_newest and self.count():
            self.scrollToItem(self.item(0), QAbstractItemView.ScrollHint.EnsureVisible)
        self._show_newest = False

    def _on_saved(self, _item: GalleryItem) -> None:
        """A new result goes first: scroll back to it however far the strip was scrolled."""
        self._show_newest = True

    def _icon(self, path: Path) -> QIcon:
        try:
            key = (str(path), path.stat().st_mtime)
        except OSError:
            return QIcon()
        if key not in self._icons:
            self._icons[key] = load_icon(path, self._icon_size)
        return self._icons[key]

    def _restore(self, item: QListWidgetItem) -> None:
        self.entryChosen.emit(self.row(item), True)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        row = self.currentRow()
        if Qt.Key(event.key()) in ENTER_KEYS and row >= 0:
            self.entryChosen.emit(row, True)
            event.accept()
            return
        super().keyPressEvent(event)
        if self.currentRow() != row and self.currentRow() >= 0:
            self.entryChosen.emit(self.currentRow(), False)

    def _open(self, item: QListWidgetItem) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(item.data(PATH_ROLE)))

    # --- context menu -------------------------------------------------------------------------

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        item = self.itemAt(event.pos())
        if item is None:
            event.ignore()
            return
        menu = self.entry_menu(self.row(item))
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(event.globalPos())
        event.accept()

    def entry_menu(self, row: int) -> QMenu:
        """Reveal in folder, Copy image and Delete… for the entry at `row`."""
        menu = QMenu(self)
        menu.setObjectName("historyMenu")
        choices = (
            ("&Reveal in folder", self.reveal),
            ("&Copy image", self.copy_image),
            ("&Delete…", self.confirm_delete),
        )
        for text, slot in choices:
            menu.addAction(text).triggered.connect(lambda _=False, run=slot: run(row))
        return menu

    def reveal(self, row: int) -> bool:
        """Open the folder that holds the entry's file."""
        path = self.path_at(row)
        if not path:
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(path).parent)))

    def copy_image(self, row: int) -> bool:
        """Put the entry's image on the clipboard at full size; False (said) when unreadable."""
        path = self.path_at(row)
        if not path:
            return False
        try:
            copy_to_clipboard(read_image(path))
        except MetadataError as exc:
            self.gallery.error.emit(f"Could not copy the image: {exc}")
            return False
        return True

    def confirm_delete(self, row: int) -> list[Path]:
        """Ask, then delete the entry's files (a comparison's two) from the gallery folder."""
        items = self.gallery.entry_items(row)
        if not items:
            return []
        names = " and its partner ".join(item.path.name for item in items)
        answer = QMessageBox.question(
            self,
            "Delete from history",
            f"Delete {names} from {self.gallery.store.folder}? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return []
        return self.gallery.delete(row)

    def path_at(self, row: int) -> str:
        item = self.item(row)
        return item.data(PATH_ROLE) if item is not None else ""

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self.count():
            return
        painter = QPainter(self.viewport())
        painter.setPen(self.palette().placeholderText().color())
        painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, EMPTY_TEXT)
        painter.end()

    def minimumSizeHint(self) -> QSize:
        return QSize(self._icon_size * 2, super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:
        return QSize(400, self.height())


def history_box(strip: GalleryStrip) -> QWidget:
    """The strip under its "History" title line."""
    box = QWidget()
    column = QVBoxLayout(box)
    column.setContentsMargins(0, 0, 0, 0)
    column.setSpacing(2)
    title = QLabel("History · click an image to see it and restore its parameters, or drop a PNG")
    title.setObjectName("historyTitle")
    title.setToolTip("←/→ show the next images, Enter restores the parameters of the one shown")
    title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    column.addWidget(title)
    column.addWidget(strip)
    return box
