"""A zoomable, pannable image view with a caption line and a Copy / Save as menu, and zoom/pan
sync between views."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QContextMenuEvent,
    QKeyEvent,
    QPainter,
    QPaintEvent,
    QPixmap,
    QResizeEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QWidget

from studio.ui.image_export import copy_to_clipboard, image_menu
from studio.ui.images import to_qimage

BACKGROUND = QColor(30, 30, 32)
CAPTION_BACKGROUND = QColor(14, 14, 16)
CAPTION_TEXT = QColor(240, 240, 240)
PLACEHOLDER_TEXT = QColor(150, 150, 155)
OUTLINE = QColor(80, 80, 86)


@dataclass(frozen=True, slots=True)
class ViewState:
    """Where a view looks: fitted, or the on-screen width of the image and its centre (0..1)."""

    fit: bool
    width_px: float = 0.0
    center_x: float = 0.5
    center_y: float = 0.5


class CaptionBar(QWidget):
    """The dark line above an ImageView's picture: the view's caption texts, elided to fit."""

    def __init__(self, view: ImageView) -> None:
        super().__init__(view)
        self._view = view
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setFixedHeight(self.fontMetrics().height() + 8)

    def paintEvent(self, event: QPaintEvent) -> None:
        left, right = self._view.caption_texts()
        painter = QPainter(self)
        painter.fillRect(self.rect(), CAPTION_BACKGROUND)
        painter.setPen(CAPTION_TEXT)
        metrics = self.fontMetrics()
        box = self.rect().adjusted(8, 0, -8, 0)
        right_width = metrics.horizontalAdvance(right) + 16 if right else 0
        left = metrics.elidedText(left, Qt.TextElideMode.ElideRight, box.width() - right_width)
        align = Qt.AlignmentFlag.AlignVCenter
        painter.drawText(box, align | Qt.AlignmentFlag.AlignLeft, left)
        painter.drawText(box, align | Qt.AlignmentFlag.AlignRight, right)
        painter.end()


class ImageView(QGraphicsView):
    """Shows one image: fit or zoom and pan, crisp or smooth pixels, a caption line on top.

    Its context menu copies the image at full resolution or asks `saveRequested`'s receiver
    to save it (the window knows the folder and the image's parameters).
    """

    viewStateChanged = Signal(object)
    saveRequested = Signal()

    ZOOM_STEP = 1.25
    MIN_ZOOM = 0.02
    MAX_ZOOM = 128.0

    def __init__(self, parent: QWidget | None = None, placeholder: str = "No image yet") -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self._item = QGraphicsPixmapItem()
        self.scene().addItem(self._item)
        self._fit = True
        self._smooth = False
        self._caption = ""
        self._placeholder = placeholder
        self._array: np.ndarray | None = None
        self._held_state = ViewState(fit=True)
        self._quiet_depth = 0
        self._caption_bar = CaptionBar(self)
        self.setViewportMargins(0, self._caption_bar.height(), 0, 0)
        self._configure()

    def _configure(self) -> None:
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setBackgroundBrush(BACKGROUND)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(96, 72)
        self.horizontalScrollBar().valueChanged.connect(self._emit_state)
        self.verticalScrollBar().valueChanged.connect(self._emit_state)
        self._after_zoom()

    # --- content -------------------------------------------------------------------------------

    def set_image(self, image: np.ndarray | None) -> None:
        """Show an HxWx3 / HxW uint8 array, or the placeholder for None; keeps zoom and pan."""
        self._array = image
        self._show_pixmap(QPixmap() if image is None else QPixmap.fromImage(to_qimage(image)))

    def image_array(self) -> np.ndarray | None:
        """The array shown, at full resolution (whatever the zoom); None without one."""
        return self._array

    def _show_pixmap(self, pixmap: QPixmap) -> None:
        state = self.view_state()
        size_changed = pixmap.size() != self._item.pixmap().size()
        self._item.setPixmap(pixmap)
        if pixmap.isNull():
            self._held_state = state
        if size_changed:
            self.setSceneRect(QRectF(pixmap.rect()))
            self.set_view_state(state)
        self.viewport().update()

    def has_image(self) -> bool:
        return not self._item.pixmap().isNull()

    def image_size(self) -> tuple[int, int]:
        """(width, height) of the shown image; (0, 0) without one."""
        size = self._item.pixmap().size()
        return (size.width(), size.height()) if self.has_image() else (0, 0)

    def set_caption(self, text: str) -> None:
        self._caption = text
        self._caption_bar.update()

    def caption(self) -> str:
        return self._caption

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.viewport().update()

    def placeholder(self) -> str:
        return self._placeholder

    # --- pixels --------------------------------------------------------------------------------

    def setSmooth(self, smooth: bool) -> None:
        """Bilinear filtering when True; else nearest neighbour (crisp pixels) when enlarged."""
        self._smooth = smooth
        if self._fit:
            self._fit_now()
        self._after_zoom()

    def isSmooth(self) -> bool:
        return self._smooth

    def _after_zoom(self) -> None:
        smooth = self._smooth or self.zoom() < 1.0
        modes = Qt.TransformationMode
        self._item.setTransformationMode(
            modes.SmoothTransformation if smooth else modes.FastTransformation
        )
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        self._caption_bar.update()

    # --- zoom and pan --------------------------------------------------------------------------

    def zoom(self) -> float:
        """Screen pixels per image pixel."""
        return self.transform().m11()

    def is_fit(self) -> bool:
        return self._fit

    def fit(self) -> None:
        """Fit the whole image in the view, and keep fitting it as the view resizes."""
        self._fit = True
        with self._quiet():
            self._fit_now()
        self._emit_state()

    def actual_size(self) -> None:
        """One image pixel per screen pixel (100 %), about the view's centre."""
        self.set_zoom(1.0)

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom() * self.ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom() / self.ZOOM_STEP)

    def set_zoom(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom to `factor`, keeping the image point under `anchor` (viewport coords) in place."""
        self._fit = False
        with self._quiet():
            self._zoom_about(factor, anchor or self._viewport_center())
        self._emit_state()

    def _zoom_about(self, factor: float, anchor: QPointF) -> None:
        factor = min(max(factor, self.MIN_ZOOM), self.MAX_ZOOM)
        scene_point = self.viewportTransform().inverted()[0].map(anchor)
        self.setTransform(QTransform.fromScale(factor, factor))
        drift = self.viewportTransform().map(scene_point) - anchor
        self._scroll_by(drift)
        self._after_zoom()

    def _scroll_by(self, delta: QPointF) -> None:
        hbar, vbar = self.horizontalScrollBar(), self.verticalScrollBar()
        hbar.setValue(hbar.value() + round(delta.x()))
        vbar.setValue(vbar.value() + round(delta.y()))

    def _fit_now(self) -> None:
        width, height = self.image_size()
        if not width:
            return
        viewport = self.viewport().size()
        factor = min(viewport.width() / width, viewport.height() / height)
        if factor >= 2 and not self._smooth:
            factor = float(int(factor))
        self.setTransform(QTransform.fromScale(factor, factor))
        self.centerOn(QPointF(width / 2, height / 2))
        self._after_zoom()

    def _viewport_center(self) -> QPointF:
        return QPointF(self.viewport().width() / 2, self.viewport().height() / 2)

    # --- sync ----------------------------------------------------------------------------------

    def view_state(self) -> ViewState:
        width, height = self.image_size()
        if not width:
            return self._held_state
        center = self.viewportTransform().inverted()[0].map(self._viewport_center())
        return ViewState(self._fit, self.zoom() * width, center.x() / width, center.y() / height)

    def set_view_state(self, state: ViewState) -> None:
        """Look where `state` says, without emitting viewStateChanged."""
        width, height = self.image_size()
        self._fit = state.fit or state.width_px <= 0
        if not width:
            self._held_state = state
            return
        with self._quiet():
            if self._fit:
                self._fit_now()
                return
            factor = min(max(state.width_px / width, self.MIN_ZOOM), self.MAX_ZOOM)
            self.setTransform(QTransform.fromScale(factor, factor))
            self.centerOn(QPointF(state.center_x * width, state.center_y * height))
            self._after_zoom()

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        self._quiet_depth += 1
        try:
            yield
        finally:
            self._quiet_depth -= 1

    def _emit_state(self) -> None:
        if not self._quiet_depth:
            self.viewStateChanged.emit(self.view_state())

    # --- events --------------------------------------------------------------------------------

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if not steps or not self.has_image():
            event.ignore()
            return
        self.set_zoom(self.zoom() * self.ZOOM_STEP**steps, event.position())
        event.accept()

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        menu = image_menu(self, self.has_image(), self.copy_image, self.saveRequested.emit)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(event.globalPos())
        event.accept()

    def copy_image(self) -> bool:
        """Put the picture on the clipboard at full resolution; False without one."""
        if self._array is None:
            return False
        copy_to_clipboard(self._array)
        return True

    def keyPressEvent(self, event: QKeyEvent) -> None:
        action = self._zoom_action(event)
        if action is None:
            super().keyPressEvent(event)
            return
        action()
        event.accept()

    def _zoom_action(self, event: QKeyEvent) -> Callable[[], None] | None:
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        mods &= ~Qt.KeyboardModifier.ShiftModifier
        if mods != Qt.KeyboardModifier.ControlModifier:
            return None
        actions = {
            Qt.Key.Key_Plus: self.zoom_in,
            Qt.Key.Key_Equal: self.zoom_in,
            Qt.Key.Key_Minus: self.zoom_out,
            Qt.Key.Key_0: self.fit,
            Qt.Key.Key_1: self.actual_size,
        }
        return actions.get(Qt.Key(event.key()))

    def resizeEvent(self, event: QResizeEvent) -> None:
        frame = self.frameWidth()
        self._caption_bar.setGeometry(
            frame, frame, self.width() - 2 * frame, self._caption_bar.height()
        )
        with self._quiet():
            super().resizeEvent(event)
            if self._fit:
                self._fit_now()

    # --- overlay -------------------------------------------------------------------------------

    def drawForeground(self, painter: QPainter, rect: QRectF | QRect) -> None:
        painter.save()
        painter.resetTransform()
        if self.has_image():
            self._draw_outline(painter)
        else:
            self._draw_placeholder(painter)
        painter.restore()

    def _draw_outline(self, painter: QPainter) -> None:
        width, height = self.image_size()
        outline = self.viewportTransform().mapRect(QRectF(0, 0, width, height))
        painter.setPen(OUTLINE)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(outline.adjusted(-1, -1, 0, 0))

    def _draw_placeholder(self, painter: QPainter) -> None:
        painter.setPen(PLACEHOLDER_TEXT)
        painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)

    def caption_texts(self) -> tuple[str, str]:
        """The caption bar's left and right texts: the caption and the zoom level."""
        zoom = f"{self.zoom() * 100:.0f} %" if self.has_image() else ""
        return self._caption, zoom


class ViewSync(QObject):
    """Keeps zoom and pan equal across ImageViews: a change in one is applied to the others."""

    def __init__(self, views: Iterable[ImageView] = (), parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._views: list[ImageView] = []
        self._slots: dict[int, partial[None]] = {}
        self._applying = False
        for view in views:
            self.add(view)

    def views(self) -> list[ImageView]:
        return list(self._views)

    def add(self, view: ImageView) -> None:
        """Link `view`; it takes on the state of the views already linked."""
        if view in self._views:
            return
        if self._views:
            view.set_view_state(self._views[0].view_state())
        slot = partial(self._follow, view)
        view.viewStateChanged.connect(slot)
        view.destroyed.connect(partial(self._forget, id(view)))
        self._views.append(view)
        self._slots[id(view)] = slot

    def remove(self, view: ImageView) -> None:
        if view not in self._views:
            return
        view.viewStateChanged.disconnect(self._slots.pop(id(view)))
        self._views.remove(view)

    def _forget(self, key: int) -> None:
        self._slots.pop(key, None)
        self._views = [view for view in self._views if id(view) != key]

    def _follow(self, source: ImageView, state: ViewState) -> None:
        if self._applying:
            return
        self._applying = True
        try:
            for view in self._views:
                if view is not source:
                    view.set_view_state(state)
        finally:
            self._applying = False
