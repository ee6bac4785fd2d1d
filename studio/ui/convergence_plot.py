"""The convergence plot: distance to the reference against model evaluations, one curve per
sampler, drawn with QPainter (the window's view and `studio converge`'s PNG share the drawing)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QImageWriter,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import QToolTip, QWidget

from studio.core.convergence import ConvergencePoint, curves
from studio.core.samplers import SAMPLER_NAMES

PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#17becf", "#bcbd22", "#1f3b73", "#222222", "#d81b60", "#7f7f7f", "#00a087",
)  # fmt: skip
MARKERS = ("circle", "square", "triangle", "diamond")
MARGIN = {"left": 64.0, "right": 190.0, "top": 36.0, "bottom": 52.0}
HIT_PX = 8.0
DODGE_LOG2 = 0.02
X_PAD_LOG2 = 0.2


@dataclass(frozen=True, slots=True)
class Metric:
    """What the y axis shows: its title, range rule and how to read it from a point."""

    key: str
    title: str
    value: Callable[[ConvergencePoint], float | None]
    fixed: tuple[float, float] | None = None


METRICS = {
    "psnr": Metric("psnr", "PSNR to the reference (dB)", lambda p: p.psnr),
    "agreement": Metric(
        "agreement",
        "classifier agrees with the reference (% of cases)",
        lambda p: None if p.agreement is None else 100.0 * p.agreement,
        fixed=(0.0, 100.0),
    ),
}


def sampler_styles(names: Sequence[str]) -> dict[str, tuple[QColor, str, Qt.PenStyle]]:
    """A distinct colour, marker and line style for each plotted sampler, in catalogue order
    (so a plot of up to 16 samplers never repeats a colour)."""
    order = sorted(names, key=lambda n: (SAMPLER_NAMES.index(n) if n in SAMPLER_NAMES else 999, n))
    styles = {}
    for index, name in enumerate(order):
        dashed = (index // len(PALETTE)) % 2 == 1 or index % 2 == 1
        line = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
        marker = MARKERS[(index + index // len(PALETTE)) % len(MARKERS)]
        styles[name] = (QColor(PALETTE[index % len(PALETTE)]), marker, line)
    return styles


def log2_range(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    low = 2.0 ** math.floor(math.log2(max(low, 1.0)))
    high = 2.0 ** math.ceil(math.log2(max(high, 1.0)))
    return (low, high * 2) if high <= low else (low, high)


def linear_range(values: Sequence[float], step: float = 5.0) -> tuple[float, float]:
    """Whole steps around the values, with half a step of room above the highest one."""
    low = math.floor(min(values) / step) * step
    high = math.ceil(max(values) / step) * step
    if high - max(values) < step / 4:
        high += step / 2
    return (low, high + step) if high <= low else (low, high)


class CurveChart:
    """Lays out and paints the curves of one metric in a rectangle; remembers where each point
    landed so a view can say which point is under the mouse."""

    def __init__(self) -> None:
        self.points: list[ConvergencePoint] = []
        self.metric = METRICS["psnr"]
        self.title = ""
        self.placed: list[tuple[QPointF, ConvergencePoint]] = []

    def series(self) -> dict[str, list[tuple[float, float, ConvergencePoint]]]:
        """Per sampler: (x, y, point). A fixed-range metric (agreement) takes few distinct
        values, so its curves are dodged sideways a little to keep overlapping ones visible."""
        out = {}
        grouped = curves(self.points)
        for index, (name, curve) in enumerate(grouped.items()):
            shift = (index - (len(grouped) - 1) / 2) * DODGE_LOG2 if self.metric.fixed else 0.0
            rows = [(p.nfe * 2.0**shift, self.metric.value(p), p) for p in curve]
            kept = [(x, y, p) for x, y, p in rows if y is not None and x > 0 and math.isfinite(y)]
            if kept:
                out[name] = kept
        return out

    def ranked(self, series: dict) -> list[str]:
        """Legend order: the best curve (highest mean value) first."""
        return sorted(
            series, key=lambda name: -sum(y for _, y, _ in series[name]) / len(series[name])
        )

    def paint(self, painter: QPainter, rect: QRectF, ink: QColor, grid: QColor) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.placed = []
        series = self.series()
        plot = rect.adjusted(MARGIN["left"], MARGIN["top"], -MARGIN["right"], -MARGIN["bottom"])
        if self.title:
            painter.setPen(ink)
            painter.drawText(
                QRectF(rect.left(), rect.top() + 6, rect.width(), 22),
                Qt.AlignmentFlag.AlignHCenter,
                self.title,
            )
        if not series or plot.width() < 40 or plot.height() < 40:
            painter.setPen(ink)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "No convergence points yet")
            return
        xs = [float(p.nfe) for rows in series.values() for _, _, p in rows]
        ys = [y for rows in series.values() for _, y, _ in rows]
        x_range = log2_range(xs)
        y_range = _padded(self.metric.fixed) if self.metric.fixed else linear_range(ys)
        to_screen = _mapper(plot, x_range, y_range)
        _axes(painter, plot, x_range, y_range, to_screen, ink, grid, self.metric.title)
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


def _padded(fixed: tuple[float, float]) -> tuple[float, float]:
    pad = (fixed[1] - fixed[0]) * 0.04
    return fixed[0] - pad, fixed[1] + pad


def _mapper(plot: QRectF, x_range, y_range) -> Callable[[float, float], QPointF]:
    lx0, lx1 = math.log2(x_range[0]) - X_PAD_LOG2, math.log2(x_range[1]) + X_PAD_LOG2
    y0, y1 = y_range

    def to_screen(x: float, y: float) -> QPointF:
        fx = (math.log2(x) - lx0) / (lx1 - lx0)
        fy = (y - y0) / (y1 - y0)
        return QPointF(plot.left() + fx * plot.width(), plot.bottom() - fy * plot.height())

    return to_screen


def _axes(painter, plot, x_range, y_range, to_screen, ink, grid, y_title) -> None:
    metrics = QFontMetricsF(painter.font())
    painter.setPen(QPen(grid, 1.0))
    tick = x_range[0]
    while tick <= x_range[1] * 1.0001:
        x = to_screen(tick, y_range[0]).x()
        painter.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
        painter.setPen(ink)
        label = f"{tick:g}"
        painter.drawText(
            QPointF(x - metrics.horizontalAdvance(label) / 2, plot.bottom() + 16), label
        )
        painter.setPen(QPen(grid, 1.0))
        tick *= 2
    for value in _y_ticks(y_range):
        y = to_screen(x_range[0], value).y()
        painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
        painter.setPen(ink)
        label = f"{value:g}"
        width = metrics.horizontalAdvance(label)
        painter.drawText(QPointF(plot.left() - width - 6, y + metrics.ascent() / 2 - 1), label)
        painter.setPen(QPen(grid, 1.0))
    painter.setPen(QPen(ink, 1.2))
    painter.drawRect(plot)
    x_title = "model evaluations (NFE, log scale)"
    painter.drawText(
        QPointF(plot.center().x() - metrics.horizontalAdvance(x_title) / 2, plot.bottom() + 38),
        x_title,
    )
    painter.save()
    painter.translate(plot.left() - 46, plot.center().y() + metrics.horizontalAdvance(y_title) / 2)
    painter.rotate(-90)
    painter.drawText(QPointF(0, 0), y_title)
    painter.restore()


def _y_ticks(y_range: tuple[float, float]) -> list[float]:
    span = y_range[1] - y_range[0]
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100) if span / s <= 8)
    first = math.ceil(y_range[0] / step) * step
    return [first + i * step for i in range(int((y_range[1] - first) / step) + 1)]


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
    painter.drawText(QPointF(left, plot.top() + 4), "best first")
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
        f"{point.sampler} · {point.steps} steps · {point.nfe} NFE · "
        f"PSNR {point.psnr:.1f} dB{agreement} · {point.wall_s:.2f} s"
    )


def render_png(
    points: Sequence[ConvergencePoint], metric: str, title: str, size: tuple[int, int] = (1000, 600)
) -> bytes:
    """The plot as PNG bytes on white (needs a QGuiApplication for its fonts)."""
    image = QImage(size[0], size[1], QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    chart = CurveChart()
    chart.points, chart.metric, chart.title = list(points), METRICS[metric], title
    painter = QPainter(image)
    painter.setFont(QFont("DejaVu Sans", 10))
    chart.paint(painter, QRectF(0, 0, size[0], size[1]), QColor(30, 30, 30), QColor(220, 220, 220))
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    # QImageWriter rather than image.save(buffer, "PNG"): the same writer, and PySide6's stubs
    # type save()'s format as bytes where the binding accepts only str.
    QImageWriter(buffer, b"PNG").write(image)
    return bytes(data.data())
