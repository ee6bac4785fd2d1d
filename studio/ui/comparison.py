"""Teacher beside student: side by side, a swipe divider, or a difference heatmap with a legend."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.ui.image_view import ImageView, ViewSync
from studio.ui.images import (
    MAGMA,
    auto_range,
    colorize,
    difference_map,
    swipe_column,
    swipe_composite,
    to_qimage,
)

MODES = ("side_by_side", "swipe", "difference")
MODE_LABELS = {"side_by_side": "Side by side", "swipe": "Swipe", "difference": "Difference"}
MODE_KEYS = {Qt.Key.Key_1: "side_by_side", Qt.Key.Key_2: "swipe", Qt.Key.Key_3: "difference"}
SEGMENT_STYLE = """
QToolButton { padding: 3px 12px; border: 1px solid palette(mid); background: palette(button); }
QToolButton:checked { background: palette(highlight); color: palette(highlighted-text); }
QToolButton#segmentFirst { border-top-left-radius: 4px; border-bottom-left-radius: 4px; }
QToolButton#segmentLast { border-top-right-radius: 4px; border-bottom-right-radius: 4px; }
"""


def mode_key(name: str) -> str:
    """'Side by side', 'side-by-side' and 'side_by_side' all name the same mode."""
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    if key not in MODES:
        raise ValueError(f"unknown comparison mode {name!r}; expected one of {MODES}")
    return key


class SwipeView(ImageView):
    """One view of two images split by a vertical divider dragged by its handle: left | right."""

    fractionChanged = Signal(float)

    GRAB_PX = 12
    HANDLE_RADIUS = 11

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, placeholder="Swipe needs an image")
        self._left: np.ndarray | None = None
        self._right: np.ndarray | None = None
        self._right_caption = ""
        self._fraction = 0.5
        self._dragging = False

    def set_pair(self, left: np.ndarray | None, right: np.ndarray | None) -> None:
        self._left, self._right = left, right
        self._render()

    def set_captions(self, left: str, right: str) -> None:
        self._right_caption = right
        self.set_caption(left)

    def fraction(self) -> float:
        return self._fraction

    def set_fraction(self, fraction: float) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        if fraction == self._fraction:
            return
        self._fraction = fraction
        self._render()
        self.fractionChanged.emit(fraction)

    def caption_texts(self) -> tuple[str, str]:
        return self.caption(), self._right_caption

    def _render(self) -> None:
        if self._left is None or self._right is None:
            self.set_image(self._left if self._right is None else self._right)
            return
        self.set_image(swipe_composite(self._left, self._right, self._fraction))

    def divider_x(self) -> float | None:
        """The divider's x in viewport coordinates; None unless both images are shown."""
        if self._left is None or self._right is None:
            return None
        width = self.image_size()[0]
        column = swipe_column(width, self._fraction)
        return self.viewportTransform().map(QPointF(column, 0)).x()

    def _near_divider(self, x: float) -> bool:
        divider = self.divider_x()
        return divider is not None and abs(x - divider) <= self.GRAB_PX

    def mousePressEvent(self, event: QMouseEvent) -> None:
        left_button = event.button() == Qt.MouseButton.LeftButton
        if left_button and self._near_divider(event.position().x()):
            self._dragging = True
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._dragging:
            scene_x = self.viewportTransform().inverted()[0].map(event.position()).x()
            self.set_fraction(scene_x / max(self.image_size()[0], 1))
            event.accept()
            return
        super().mouseMoveEvent(event)
        if not event.buttons():
            near = self._near_divider(event.position().x())
            cursor = Qt.CursorShape.SplitHCursor if near else Qt.CursorShape.OpenHandCursor
            self.viewport().setCursor(cursor)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._dragging:
            self._dragging = False
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def drawForeground(self, painter: QPainter, rect: QRectF | QRect) -> None:
        super().drawForeground(painter, rect)
        x = self.divider_x()
        if x is None:
            return
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._draw_divider(painter, x)
        painter.restore()

    def _draw_divider(self, painter: QPainter, x: float) -> None:
        height = self.viewport().height()
        painter.setPen(QPen(QColor(0, 0, 0, 150), 4))
        painter.drawLine(QPointF(x, 0), QPointF(x, height))
        painter.setPen(QPen(QColor(255, 255, 255), 2))
        painter.drawLine(QPointF(x, 0), QPointF(x, height))
        center = QPointF(x, height / 2)
        painter.setBrush(QColor(255, 255, 255))
        painter.setPen(QPen(QColor(0, 0, 0, 150), 1.5))
        painter.drawEllipse(center, self.HANDLE_RADIUS, self.HANDLE_RADIUS)
        painter.setBrush(QColor(40, 40, 40))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawPath(_arrows(center, self.HANDLE_RADIUS * 0.55))


def _arrows(center: QPointF, size: float) -> QPainterPath:
    path = QPainterPath()
    for direction in (-1, 1):
        tip = QPointF(center.x() + direction * (size + 2), center.y())
        base_x = center.x() + direction * 2
        path.moveTo(tip)
        path.lineTo(base_x, center.y() - size)
        path.lineTo(base_x, center.y() + size)
        path.closeSubpath()
    return path


class ColorLegend(QWidget):
    """A horizontal colour bar of the heatmap's scale with its title and tick values."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._title = title
        self._vmax = 255.0
        self._bar = to_qimage(MAGMA[None, :, :])
        self.setFixedHeight(self.fontMetrics().height() * 2 + 16)

    def set_range(self, vmax: float, title: str = "") -> None:
        self._vmax, self._title = vmax, title or self._title
        self.update()

    def vmax(self) -> float:
        return self._vmax

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        metrics = self.fontMetrics()
        line = metrics.height()
        bar = QRectF(8, 4, self.width() - 16, line)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(bar, self._bar)
        painter.setPen(self.palette().windowText().color())
        labels = QRectF(bar.left(), bar.bottom() + 4, bar.width(), line)
        top = "≥ " if self._vmax < 255 else ""
        painter.drawText(labels, Qt.AlignmentFlag.AlignLeft, "0")
        painter.drawText(labels, Qt.AlignmentFlag.AlignHCenter, self._title)
        painter.drawText(labels, Qt.AlignmentFlag.AlignRight, f"{top}{self._vmax:.0f}")
        painter.end()


class ComparisonWidget(QWidget):
    """Shows a teacher image and a student image in one of three comparison modes."""

    modeChanged = Signal(str)
    smoothChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._teacher: np.ndarray | None = None
        self._student: np.ndarray | None = None
        self._captions = self._names = ("Teacher", "Student")
        self._single_lane = False
        self._build()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.set_mode("side_by_side")

    # --- construction --------------------------------------------------------------------------

    def _build(self) -> None:
        self.teacher_view = ImageView(placeholder="Teacher: no image yet")
        self.teacher_view.setObjectName("teacherPane")
        self.student_view = ImageView(placeholder="Student: no image yet")
        self.student_view.setObjectName("studentPane")
        self.swipe_view = SwipeView()
        self.swipe_view.setObjectName("swipePane")
        self.difference_view = ImageView(placeholder="Difference needs both images")
        self.difference_view.setObjectName("differencePane")
        self.legend = ColorLegend("mean |teacher − student| per pixel (0–255)")
        self.legend.setObjectName("differenceLegend")
        self.view_sync = ViewSync(self.views(), self)
        self.set_captions(*self._captions)
        self._stack = QStackedWidget()
        for page in (self._side_by_side_page(), self.swipe_view, self._difference_page()):
            self._stack.addWidget(page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(self._toolbar())
        layout.addWidget(self._stack, 1)

    def _toolbar(self) -> QHBoxLayout:
        self.summary_label = QLabel()
        self.summary_label.setObjectName("comparisonSummary")
        self.summary_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.smooth_box = QCheckBox("Smooth")
        self.smooth_box.setToolTip("Bilinear filtering instead of crisp pixels when zoomed in")
        self.smooth_box.toggled.connect(self.set_smooth)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 4, 4, 0)
        bar.addWidget(self._segments())
        bar.addSpacing(12)
        bar.addWidget(self.summary_label, 1)
        bar.addWidget(self.smooth_box)
        return bar

    def _segments(self) -> QWidget:
        self.mode_buttons: dict[str, QToolButton] = {}
        self._mode_group = QButtonGroup(self)
        box = QWidget()
        box.setStyleSheet(SEGMENT_STYLE)
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        for index, key in enumerate(MODES):
            button = QToolButton()
            button.setText(MODE_LABELS[key])
            button.setCheckable(True)
            button.setToolTip(f"{MODE_LABELS[key]} ({index + 1})")
            button.setObjectName(self._segment_name(index))
            button.clicked.connect(lambda _=False, k=key: self.set_mode(k))
            self._mode_group.addButton(button)
            self.mode_buttons[key] = button
            row.addWidget(button)
        self._segment_box = box
        return box

    @staticmethod
    def _segment_name(index: int) -> str:
        return {0: "segmentFirst", len(MODES) - 1: "segmentLast"}.get(index, "segmentMiddle")

    def _side_by_side_page(self) -> QWidget:
        page = QWidget()
        row = QHBoxLayout(page)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        row.addWidget(self.teacher_view, 1)
        row.addWidget(self.student_view, 1)
        return page

    def _difference_page(self) -> QWidget:
        page = QWidget()
        column = QVBoxLayout(page)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.difference_view, 1)
        column.addWidget(self.legend)
        return page

    def views(self) -> list[ImageView]:
        return [self.teacher_view, self.student_view, self.swipe_view, self.difference_view]

    def shown_views(self) -> list[ImageView]:
        """The views of the current mode (zoom actions act on these; the others follow)."""
        mode = self.mode()
        if mode == "side_by_side":
            return [self.teacher_view] + ([] if self._single_lane else [self.student_view])
        return [self.swipe_view if mode == "swipe" else self.difference_view]

    def zoom_shown(self, action: str) -> None:
        """'fit', 'actual_size', 'zoom_in' or 'zoom_out' on the shown views, pane focused or not."""
        for view in self.shown_views():
            getattr(view, action)()

    # --- public API ----------------------------------------------------------------------------

    def set_images(self, teacher: np.ndarray | None, student: np.ndarray | None) -> None:
        self._teacher, self._student = teacher, student
        self._refresh()

    def set_captions(self, teacher: str, student: str) -> None:
        self._captions = (teacher or "Teacher", student or "Student")
        self.teacher_view.set_caption(self._captions[0])
        self.student_view.set_caption(self._captions[1])
        self.swipe_view.set_captions(*self._captions)

    def set_names(self, left: str, right: str) -> None:
        """What the difference view calls the two images (Teacher and Student)."""
        self._names = (left, right)
        self._refresh()

    def set_summary(self, text: str) -> None:
        self.summary_label.setText(text)
        self.summary_label.setToolTip(text)

    def summary(self) -> str:
        return self.summary_label.text()

    def mode(self) -> str:
        return MODES[self._stack.currentIndex()]

    def set_mode(self, name: str) -> None:
        """Switch to 'side_by_side', 'swipe' or 'difference' (display labels work too)."""
        key = mode_key(name)
        changed = key != self.mode()
        self._stack.setCurrentIndex(MODES.index(key))
        self.mode_buttons[key].setChecked(True)
        self._refresh()
        if changed:
            self.modeChanged.emit(key)

    def set_smooth(self, smooth: bool) -> None:
        for view in self.views():
            view.setSmooth(smooth)
        if self.smooth_box.isChecked() != smooth:
            self.smooth_box.setChecked(smooth)
        self.smoothChanged.emit(smooth)

    def is_smooth(self) -> bool:
        return self.smooth_box.isChecked()

    def set_single_lane(self, single: bool) -> None:
        """One lane only: the teacher pane alone, without the mode buttons."""
        self._single_lane = single
        if single:
            self.set_mode("side_by_side")
        self._segment_box.setVisible(not single)
        self.student_view.setVisible(not single)

    def is_single_lane(self) -> bool:
        return self._single_lane

    # --- rendering -----------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Update only the visible mode's page; the others catch up when they are shown."""
        mode = self.mode()
        if mode == "side_by_side":
            self.teacher_view.set_image(self._teacher)
            self.student_view.set_image(self._student)
        elif mode == "swipe":
            self.swipe_view.set_pair(self._teacher, self._student)
        else:
            self._refresh_difference()

    def _refresh_difference(self) -> None:
        if self._teacher is None or self._student is None:
            self.difference_view.set_image(None)
            self.difference_view.set_caption("Difference")
            self.legend.hide()
            return
        diff = difference_map(self._teacher, self._student)
        vmax = auto_range(diff)
        self.difference_view.set_image(colorize(diff, vmax))
        a, b = self._names
        self.difference_view.set_caption(
            f"|{a} − {b}| · mean {diff.mean():.1f} · max {diff.max():.0f} of 255"
        )
        self.legend.set_range(vmax, f"mean |{a.lower()} − {b.lower()}| per pixel (0–255)")
        self.legend.show()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        mode = MODE_KEYS.get(Qt.Key(event.key()))
        plain = not (event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier)
        if mode is None or not plain or self._single_lane:
            super().keyPressEvent(event)
            return
        self.set_mode(mode)
        event.accept()
