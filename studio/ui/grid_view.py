"""The grid view: an X/Y grid's cells as they arrive, with headers, captions and times."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from studio.core.events import GridCellFinished
from studio.core.grid import GridSpec
from studio.ui.images import to_qimage

MIN_CELL = 72
MAX_CELL = 224
GAP = 10
CAPTION_LINES = 3
ACTIVATE_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space)
MOVES = {
    Qt.Key.Key_Left: (-1, 0),
    Qt.Key.Key_Right: (1, 0),
    Qt.Key.Key_Up: (0, -1),
    Qt.Key.Key_Down: (0, 1),
}


@dataclass(frozen=True, slots=True)
class ShownCell:
    """What the view keeps of a finished cell: its picture, caption lines and tooltip."""

    image: QImage | None
    lines: tuple[str, ...]
    tip: str


def shown_cell(event: GridCellFinished) -> ShownCell:
    values = tuple(event.label.split(" · "))
    if event.error:
        return ShownCell(None, (*values, "could not run"), f"{event.label}\n{event.error}")
    timing = f"{event.wall_s:.2f} s · {event.nfe} NFE" + (" · partial" if event.partial else "")
    image = to_qimage(event.image) if event.image is not None else None
    return ShownCell(image, (*values, timing), f"{event.label}\n{timing}")


class GridView(QWidget):
    """Paints the grid's headers and cells; a click (or Enter on the selected cell) activates a
    cell, and Shift+click pins one as the reference the others are compared with."""

    cellActivated = Signal(int, int)
    cellPinned = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("gridView")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.grid: GridSpec | None = None
        self.cells: dict[tuple[int, int], ShownCell] = {}
        self.running: tuple[int, int] | None = None
        self.selected: tuple[int, int] | None = None
        self.pinned: tuple[int, int] = (0, 0)

    # --- content -------------------------------------------------------------------------------

    def set_grid(self, grid: GridSpec | None) -> None:
        self.grid, self.cells, self.running, self.selected = grid, {}, None, None
        self.pinned = (0, 0)
        self.updateGeometry()
        self._fit_height()
        self.update()

    def set_cell(self, event: GridCellFinished) -> None:
        self.cells[(event.x, event.y)] = shown_cell(event)
        if self.selected is None:
            self.selected = (event.x, event.y)
        self.update()

    def set_running(self, cell: tuple[int, int] | None) -> None:
        self.running = cell
        self.update()

    def pin(self, x: int, y: int) -> None:
        self.pinned = (x, y)
        self.update()

    # --- geometry ------------------------------------------------------------------------------

    def _header_w(self) -> int:
        if self.grid is None or self.grid.y is None:
            return GAP
        return max(self.fontMetrics().horizontalAdvance(t) for t in self.grid.y.labels()) + 2 * GAP

    def _line_h(self) -> int:
        return self.fontMetrics().height()

    def cell_side(self) -> int:
        if self.grid is None:
            return MIN_CELL
        room = (self.width() - self._header_w() - GAP) // self.grid.columns - GAP
        return max(MIN_CELL, min(MAX_CELL, room))

    def _top(self) -> int:
        return GAP + self._line_h() + 4

    def cell_rect(self, x: int, y: int) -> QRect:
        """The picture's box of cell (x, y); its caption sits just below."""
        side = self.cell_side()
        pitch_y = side + CAPTION_LINES * self._line_h() + 2 * GAP
        left = self._header_w() + x * (side + GAP)
        return QRect(left, self._top() + y * pitch_y, side, side)

    def cell_at(self, pos: QPoint) -> tuple[int, int] | None:
        if self.grid is None:
            return None
        for y in range(self.grid.rows):
            for x in range(self.grid.columns):
                rect = self.cell_rect(x, y).adjusted(0, 0, 0, CAPTION_LINES * self._line_h())
                if rect.contains(pos):
                    return (x, y)
        return None

    def _content_height(self) -> int:
        if self.grid is None:
            return 120
        return self.cell_rect(0, self.grid.rows - 1).bottom() + CAPTION_LINES * self._line_h() + GAP

    def _content_width(self) -> int:
        columns = self.grid.columns if self.grid else 1
        return self._header_w() + columns * (MIN_CELL + GAP) + GAP

    def sizeHint(self) -> QSize:
        return QSize(self._content_width(), self._content_height())

    def minimumSizeHint(self) -> QSize:
        return QSize(self._content_width(), self._content_height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        self.setMinimumHeight(self._content_height())

    # --- painting ------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.base())
        if self.grid is None:
            painter.setPen(palette.placeholderText().color())
            painter.drawText(
                self.rect(),
                Qt.AlignmentFlag.AlignCenter,
                "Choose two axes above and press Run grid (Ctrl+G).",
            )
            return
        self._paint_headers(painter)
        for y in range(self.grid.rows):
            for x in range(self.grid.columns):
                self._paint_cell(painter, x, y)
        painter.end()

    def _paint_headers(self, painter: QPainter) -> None:
        assert self.grid is not None
        painter.setPen(self.palette().text().color())
        for x, text in enumerate(self.grid.x.labels()):
            rect = self.cell_rect(x, 0)
            elided = self.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, rect.width())
            painter.drawText(QPoint(rect.left(), GAP + self.fontMetrics().ascent()), elided)
        if self.grid.y is not None:
            for y, text in enumerate(self.grid.y.labels()):
                rect = self.cell_rect(0, y)
                painter.drawText(QPoint(GAP, rect.center().y()), text)

    def _paint_cell(self, painter: QPainter, x: int, y: int) -> None:
        rect = self.cell_rect(x, y)
        cell = self.cells.get((x, y))
        palette = self.palette()
        if cell is not None and cell.image is not None:
            painter.drawImage(rect, cell.image)
        else:
            painter.fillRect(rect, palette.alternateBase())
            note = "running…" if self.running == (x, y) else ("" if cell is None else "—")
            painter.setPen(palette.placeholderText().color())
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, note)
        self._paint_frame(painter, rect, (x, y))
        if cell is not None:
            self._paint_caption(painter, rect, cell)

    def _paint_frame(self, painter: QPainter, rect: QRect, at: tuple[int, int]) -> None:
        if at == self.running:
            painter.setPen(QPen(QColor(230, 160, 30), 3))
        elif at == self.selected and self.hasFocus():
            painter.setPen(QPen(self.palette().highlight().color(), 3))
        elif at == self.pinned and len(self.cells) > 1:
            painter.setPen(QPen(self.palette().highlight().color(), 1, Qt.PenStyle.DashLine))
        else:
            return
        painter.drawRect(rect.adjusted(-2, -2, 1, 1))

    def _paint_caption(self, painter: QPainter, rect: QRect, cell: ShownCell) -> None:
        metrics = self.fontMetrics()
        palette = self.palette()
        top = rect.bottom() + 4
        for index, line in enumerate(cell.lines[-CAPTION_LINES:]):
            last = index == len(cell.lines[-CAPTION_LINES:]) - 1
            painter.setPen((palette.placeholderText() if last else palette.text()).color())
            text = metrics.elidedText(line, Qt.TextElideMode.ElideRight, rect.width())
            painter.drawText(QPoint(rect.left(), top + metrics.ascent()), text)
            top += metrics.height()

    # --- interaction ---------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        at = self.cell_at(event.position().toPoint())
        if at is None or at not in self.cells or event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        self.selected = at
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.pin(*at)
            self.cellPinned.emit(*at)
        else:
            self.cellActivated.emit(*at)
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        at = self.cell_at(event.position().toPoint())
        cell = self.cells.get(at) if at is not None else None
        if cell is None:
            QToolTip.hideText()
            return
        QToolTip.showText(event.globalPosition().toPoint(), cell.tip, self)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = Qt.Key(event.key())
        if self.grid is None or self.selected is None:
            super().keyPressEvent(event)
            return
        if key in MOVES:
            dx, dy = MOVES[key]
            x = min(max(self.selected[0] + dx, 0), self.grid.columns - 1)
            y = min(max(self.selected[1] + dy, 0), self.grid.rows - 1)
            self.selected = (x, y)
            self.update()
        elif key in ACTIVATE_KEYS and self.selected in self.cells:
            self.cellActivated.emit(*self.selected)
        else:
            super().keyPressEvent(event)
