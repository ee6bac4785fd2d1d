"""Scrubbing through a run, live or finished: a slider and a row of thumbnails made only when
seen."""

from __future__ import annotations

import bisect
from collections import OrderedDict
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QSignalBlocker,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QIcon, QKeyEvent, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QSlider,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from studio.ui.images import to_qimage

Frame = tuple[int, np.ndarray]
AnyIndex = QModelIndex | QPersistentModelIndex
STEP_ROLE = Qt.ItemDataRole.UserRole + 1


def thumbnail(image: np.ndarray, size: int) -> QIcon:
    """An icon at most `size` px on its longer side: crisp when enlarged, smooth when shrunk.

    The same pixmap serves the selected state, so a selected thumbnail is not tinted.
    """
    stride = max(1, max(image.shape[:2]) // (2 * size))
    qimage = to_qimage(image[::stride, ::stride])
    longer = max(qimage.width(), qimage.height())
    if longer < size:
        target = size // longer * longer
        mode = Qt.TransformationMode.FastTransformation
    else:
        target = size
        mode = Qt.TransformationMode.SmoothTransformation
    scaled = qimage.scaled(target, target, Qt.AspectRatioMode.KeepAspectRatio, mode)
    pixmap = QPixmap.fromImage(scaled)
    icon = QIcon(pixmap)
    icon.addPixmap(pixmap, QIcon.Mode.Selected)
    return icon


class FrameListModel(QAbstractListModel):
    """A run's frames as list items in step order: the step as text, a thumbnail made when
    first asked for. Frames arriving one by one are inserted, not reset."""

    CACHE_LIMIT = 400

    def __init__(self, thumb_size: int, parent: Any = None) -> None:
        super().__init__(parent)
        self._frames: list[Frame] = []
        self._thumb_size = thumb_size
        self._thumbs: OrderedDict[int, QIcon] = OrderedDict()

    def set_frames(self, frames: list[Frame]) -> None:
        self.beginResetModel()
        self._frames = list(frames)
        self._thumbs.clear()
        self.endResetModel()

    def add_frame(self, step: int, image: np.ndarray) -> int:
        """Put `step` in its place (a new row, or a new image for a step already there); its row."""
        row = bisect.bisect_left(self._frames, step, key=lambda frame: frame[0])
        if row < len(self._frames) and self._frames[row][0] == step:
            self._frames[row] = (step, image)
            self._thumbs.pop(step, None)
            index = self.index(row, 0)
            self.dataChanged.emit(index, index)
            return row
        self.beginInsertRows(QModelIndex(), row, row)
        self._frames.insert(row, (step, image))
        self.endInsertRows()
        return row

    def frames(self) -> list[Frame]:
        return self._frames

    def step_at(self, row: int) -> int:
        return self._frames[row][0]

    def row_of_step(self, step: int) -> int | None:
        row = bisect.bisect_left(self._frames, step, key=lambda frame: frame[0])
        return row if row < len(self._frames) and self._frames[row][0] == step else None

    def thumbnails_made(self) -> int:
        return len(self._thumbs)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._frames)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._frames):
            return None
        step = self._frames[index.row()][0]
        if role == Qt.ItemDataRole.DisplayRole:
            return str(step)
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail(index.row())
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"step {step}"
        if role == STEP_ROLE:
            return step
        return None

    def _thumbnail(self, row: int) -> QIcon:
        step, image = self._frames[row]
        cached = self._thumbs.get(step)
        if cached is not None:
            self._thumbs.move_to_end(step)
            return cached
        icon = thumbnail(image, self._thumb_size)
        self._thumbs[step] = icon
        if len(self._thumbs) > self.CACHE_LIMIT:
            self._thumbs.popitem(last=False)
        return icon


class UniformSizeDelegate(QStyledItemDelegate):
    """Sizes every item like the first one asked about, so that sizing an item (the view does
    so on each new current item) does not make its thumbnail."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._size: QSize | None = None

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        if self._size is None:
            self._size = super().sizeHint(option, index)
        return self._size


class StepStrip(QWidget):
    """Lets the user pick one step of a run with a slider, the thumbnails or the arrow keys.

    Frames added while the last one is selected keep the selection on the newest ("following");
    after the user picks an earlier one it stays put until they pick the newest or press End.
    """

    frameSelected = Signal(int)

    def __init__(self, parent: QWidget | None = None, thumb_size: int = 64) -> None:
        super().__init__(parent)
        self.model = FrameListModel(thumb_size, self)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("stepSlider")
        self.slider.setRange(0, 0)
        self.slider.setPageStep(10)
        self.label = QLabel("no steps")
        self.label.setObjectName("stepLabel")
        self.thumbnails = self._thumbnail_view(thumb_size)
        self._layout()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.slider.valueChanged.connect(self._on_index)
        self.thumbnails.selectionModel().currentChanged.connect(self._on_current_item)

    def _thumbnail_view(self, thumb_size: int) -> QListView:
        view = QListView()
        view.setObjectName("stepThumbnails")
        view.setModel(self.model)
        view.setItemDelegate(UniformSizeDelegate(view))
        view.setViewMode(QListView.ViewMode.IconMode)
        view.setMovement(QListView.Movement.Static)
        view.setFlow(QListView.Flow.LeftToRight)
        view.setWrapping(False)
        view.setUniformItemSizes(True)
        view.setLayoutMode(QListView.LayoutMode.Batched)
        view.setIconSize(QSize(thumb_size, thumb_size))
        line = view.fontMetrics().height()
        view.setGridSize(QSize(thumb_size + 12, thumb_size + line + 10))
        view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scrollbar = view.horizontalScrollBar().sizeHint().height()
        view.setFixedHeight(thumb_size + line + 16 + scrollbar)
        return view

    def _layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.slider, 1)
        top.addWidget(self.label)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(top)
        column.addWidget(self.thumbnails)

    def set_frames(self, frames: list[Frame]) -> None:
        """Show these (step, image) frames; selects the last without emitting frameSelected."""
        self.model.set_frames(frames)
        with QSignalBlocker(self.slider):
            self.slider.setRange(0, max(len(frames) - 1, 0))
            self.slider.setValue(max(len(frames) - 1, 0))
        self._show_index(self.slider.value())

    def add_frame(self, step: int, image: np.ndarray) -> None:
        """Add one frame as it arrives; selects it, without emitting frameSelected, only if the
        newest frame was selected (or there was none)."""
        following = self.following()
        current = self.current_step()
        self.model.add_frame(step, image)
        count = self.frame_count()
        row = count - 1 if following or current is None else self.model.row_of_step(current)
        with QSignalBlocker(self.slider):
            self.slider.setRange(0, count - 1)
            self.slider.setValue(count - 1 if row is None else row)
        if following:
            self._show_index(self.slider.value())
        else:
            self._show_label(self.slider.value())

    def following(self) -> bool:
        """Whether the newest frame is selected (or there is none yet)."""
        count = self.frame_count()
        return not count or self.slider.value() == count - 1

    def show_note(self, note: str) -> None:
        """No frames, and `note` where the step label was (e.g. a picture without steps)."""
        self.set_frames([])
        self.label.setText(note)

    def note(self) -> str:
        return self.label.text()

    def frame_count(self) -> int:
        return self.model.rowCount()

    def current_index(self) -> int | None:
        return self.slider.value() if self.frame_count() else None

    def current_step(self) -> int | None:
        index = self.current_index()
        return None if index is None else self.model.step_at(index)

    def select_index(self, index: int) -> None:
        self.slider.setValue(index)

    def select_step(self, step: int) -> None:
        row = self.model.row_of_step(step)
        if row is not None:
            self.select_index(row)

    def step_by(self, delta: int) -> None:
        self.slider.setValue(self.slider.value() + delta)

    def _on_index(self, index: int) -> None:
        self._show_index(index)
        if self.frame_count():
            self.frameSelected.emit(self.model.step_at(index))

    def _show_label(self, index: int) -> bool:
        count = self.frame_count()
        if not count:
            self.label.setText("no steps")
            return False
        self.label.setText(f"step {self.model.step_at(index)} · {index + 1} of {count}")
        return True

    def _show_index(self, index: int) -> None:
        if not self._show_label(index):
            return
        item = self.model.index(index, 0)
        if self.thumbnails.currentIndex() != item:
            self.thumbnails.setCurrentIndex(item)
        self.thumbnails.scrollTo(item, QAbstractItemView.ScrollHint.EnsureVisible)

    def _on_current_item(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.slider.setValue(current.row())

    def keyPressEvent(self, event: QKeyEvent) -> None:
        moves = {
            Qt.Key.Key_Left: -1,
            Qt.Key.Key_Right: 1,
            Qt.Key.Key_PageUp: -self.slider.pageStep(),
            Qt.Key.Key_PageDown: self.slider.pageStep(),
            Qt.Key.Key_Home: -self.frame_count(),
            Qt.Key.Key_End: self.frame_count(),
        }
        delta = moves.get(Qt.Key(event.key()))
        if delta is None:
            super().keyPressEvent(event)
            return
        self.step_by(delta)
        event.accept()
