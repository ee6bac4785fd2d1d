"""The convergence plot: distance to the reference against model evaluations, one curve per
sampler, drawn with QPainter. The rules (styles, ranges, ticks, layout) are
`studio.core.curve_chart`'s, which the headless PNG of `studio converge` draws with too."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFontMetricsF,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import QToolTip, QWidget

from studio.core.convergence import ConvergencePoint
from studio.core.curve_chart import (
    EMPTY_TEXT,
    LEGEND_TITLE,
    METRICS,
    X_TITLE,
    PlotFrame,
    Row,
    chart_series,
    curve_styles,
    plot_box,
    plot_frame,
    ranked,
    x_ticks,
    y_ticks,
)

HIT_PX = 8.0


def sampler_styles(names: Sequence[str]) -> dict[str, tuple[QColor, str, Qt.PenStyle]]:
    """A distinct colour, marker and line style for each plotted sampler, as Qt values."""
    return {
        name: (
            QColor(style.colour),
            style.marker,
            Qt.PenStyle.DashLine if style.dashed else Qt.PenStyle.SolidLine,
        )
        for name, style in curve_styles(names).items()
    }


class CurveChart:
    """Lays out and paints the curves of one metric in a rectangle; remembers where each point
    landed so a view can say which point is under the mouse."""

    def __init__(self) -> None:
        self.points: list[ConvergencePoint] = []
        self.metric = METRICS["psnr"]
        self.title = ""
        self.placed: list[tuple[QPointF, ConvergencePoint]] = []

    def series(self) -> dict[str, list[Row]]:
        return chart_series(self.points, self.metric)

    def ranked(self, series: dict[str, list[Row]]) -> list[str]:
        return ranked(series)

    def paint(self, painter: QPainter, rect: QRectF, ink: QColor, grid: QColor) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.placed = []
        series = self.series()
        if self.title:
            painter.setPen(ink)
            painter.drawText(
                QRectF(rect.left(), rect.top() + 6, rect.width(), 22),
                Qt.AlignmentFlag.AlignHCenter,
                self.title,
            )
        metrics = painter.fontMetrics()
        longest = max((metrics.horizontalAdvance(name) for name in series), default=0)
        box = plot_box(rect.left(), rect.top(), rect.width(), rect.height(), longest)
        frame = plot_frame(series, self.metric, box)
        if frame is None:
            painter.setPen(ink)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, EMPTY_TEXT)
            return
        plot = QRectF(QPointF(frame.left, frame.top), QPointF(frame.right, frame.bottom))
        to_screen = _mapper(frame)
        _axes(painter, plot, frame, to_screen, ink, grid, self.metric.title)
        styles = sampler_styles(list(series))
        painter.save()
        painter.setClipRect(plot.adjusted(-6, -6, 6, 6))
        for name, rows in series.items():
            self._curve(painter, styles[name], rows, to_screen)
        painter.restore()
        _legend(painter, plot, self.ranked(series), styles, ink)

    def _curve(self, painter: QPainter, style, rows, to_screen) -> None:
        colour, marker, line = style
        points = [to_screen(x, y) for x, y, _ in rows]
        painter.setPen(QPen(colour, 2.0, line))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        path = QPainterPath(points[0])
        for point in points[1:]:
            path.lineTo(point)
        painter.drawPath(path)
        for point, (_, _, source) in zip(points, rows, strict=True):
            _marker(painter, point, marker, colour)
            self.placed.append((point, source))

    def point_at(self, position: QPointF) -> ConvergencePoint | None:
        best, best_d = None, HIT_PX
        for point, source in self.placed:
            d = math.hypot(point.x() - position.x(), point.y() - position.y())
            if d <= best_d:
                best, best_d = source, d
        return best


def _mapper(frame: PlotFrame) -> Callable[[float, float], QPointF]:
    def to_screen(x: float, y: float) -> QPointF:
        return QPointF(*frame.to_screen(x, y))

    return to_screen


def _axes(painter, plot, frame: PlotFrame, to_screen, ink, grid, y_title) -> None:
    metrics = QFontMetricsF(painter.font())
    x_range, y_range = frame.x_range, frame.y_range
    painter.setPen(QPen(grid, 1.0))
    for tick in x_ticks(x_range):
        x = to_screen(tick, y_range[0]).x()
        painter.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
        painter.setPen(ink)
        label = f"{tick:g}"
        painter.drawText(
            QPointF(x - metrics.horizontalAdvance(label) / 2, plot.bottom() + 16), label
        )
        painter.setPen(QPen(grid, 1.0))
    for value in y_ticks(y_range):
        y = to_screen(x_range[0], value).y()
        painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
        painter.setPen(ink)
        label = f"{value:g}"
        width = metrics.horizontalAdvance(label)
        painter.drawText(QPointF(plot.left() - width - 6, y + metrics.ascent() / 2 - 1), label)
        painter.setPen(QPen(grid, 1.0))
    painter.setPen(QPen(ink, 1.2))
    painter.drawRect(plot)
    painter.drawText(
        QPointF(plot.center().x() - metrics.horizontalAdvance(X_TITLE) / 2, plot.bottom() + 38),
        X_TITLE,
    )
    painter.save()
    painter.translate(plot.left() - 46, plot.center().y() + metrics.horizontalAdvance(y_title) / 2)
    painter.rotate(-90)
    painter.drawText(QPointF(0, 0), y_title)
    painter.restore()


def _marker(painter: QPainter, at: QPointF, shape: str, colour: QColor, size: float = 4.0) -> None:
    painter.setPen(QPen(colour.darker(130), 1.0))
    painter.setBrush(colour)
    x, y = at.x(), at.y()
    if shape == "circle":
        painter.drawEllipse(at, size, size)
    elif shape == "square":
        painter.drawRect(QRectF(x - size, y - size, 2 * size, 2 * size))
    else:
        path = QPainterPath()
        if shape == "triangle":
            corners = [(x, y - size - 1), (x + size + 1, y + size), (x - size - 1, y + size)]
        else:
            corners = [(x, y - size - 1), (x + size + 1, y), (x, y + size + 1), (x - size - 1, y)]
        path.moveTo(*corners[0])
        for corner in corners[1:]:
            path.lineTo(*corner)
        path.closeSubpath()
        painter.drawPath(path)


def _legend(painter: QPainter, plot: QRectF, names: list[str], styles: dict, ink: QColor) -> None:
    row = QFontMetricsF(painter.font()).height() + 4
    left = plot.right() + 16
    painter.setPen(ink)
    painter.drawText(QPointF(left, plot.top() + 4), LEGEND_TITLE)
    for index, name in enumerate(names):
        y = plot.top() + 8 + (index + 1) * row
        colour, marker, line = styles[name]
        painter.setPen(QPen(colour, 2.0, line))
        painter.drawLine(QPointF(left, y), QPointF(left + 26, y))
        _marker(painter, QPointF(left + 13, y), marker, colour, 3.5)
        painter.setPen(ink)
        painter.drawText(QPointF(left + 34, y + 4), name)


class ConvergencePlot(QWidget):
    """Shows the convergence curves of one metric, with a tooltip for the point under the mouse."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("convergencePlot")
        self.setMouseTracking(True)
        self.setMinimumSize(420, 260)
        self.chart = CurveChart()

    def set_points(self, points: Sequence[ConvergencePoint]) -> None:
        self.chart.points = list(points)
        self.update()

    def set_metric(self, key: str) -> None:
        self.chart.metric = METRICS[key]
        self.update()

    def set_title(self, title: str) -> None:
        self.chart.title = title
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().base())
        palette = self.palette()
        self.chart.paint(
            painter, QRectF(self.rect()), palette.text().color(), palette.mid().color()
        )
        painter.end()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        point = self.chart.point_at(event.position())
        if point is None:
            QToolTip.hideText()
            return
        QToolTip.showText(event.globalPosition().toPoint(), point_tip(point), self)


def point_tip(point: ConvergencePoint) -> str:
    agreement = "" if point.agreement is None else f" · classifier {point.agreement:.0%}"
    return (
        f"{point.series} · {point.steps} steps · {point.nfe} NFE · "
        f"PSNR {point.psnr:.1f} dB{agreement} · {point.wall_s:.2f} s"
    )
