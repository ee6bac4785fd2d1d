"""The convergence chart as a PNG, drawn with Pillow (no Qt), for headless `studio converge`:
title, log2 NFE axis and metric axis with their grids and titles, one curve per sampler with its
markers, and the legend, best curve first. The layout and styles are `curve_chart`'s, the same
the window's plot paints with QPainter.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Iterator, Sequence

from PIL import Image, ImageColor, ImageDraw, ImageFont

from studio.core.convergence import ConvergencePoint
from studio.core.curve_chart import (
    EMPTY_TEXT,
    LEGEND_TITLE,
    METRICS,
    X_TITLE,
    CurveStyle,
    Metric,
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

SUPERSAMPLE = 2
FONT_PX = 13
INK = (30, 30, 30)
GRID = (220, 220, 220)
CLIP_PAD = 6.0
DASH_ON, DASH_OFF = 4.0, 2.0  # in line widths, as Qt's dash line

Colour = tuple[int, int, int]
Point = tuple[float, float]


def curve_png(
    points: Sequence[ConvergencePoint],
    metric: str,
    title: str,
    size: tuple[int, int] = (1000, 600),
) -> bytes:
    """The chart of `metric` ("psnr" or "agreement") as PNG bytes on white."""
    buffer = io.BytesIO()
    curve_picture(points, metric, title, size).save(buffer, format="PNG")
    return buffer.getvalue()


def curve_picture(
    points: Sequence[ConvergencePoint], metric: str, title: str, size: tuple[int, int]
) -> Image.Image:
    """The chart as an RGB picture of `size`, drawn large and scaled down (smooth edges)."""
    sheet = _Sheet(size)
    chosen = METRICS[metric]
    series = chart_series(points, chosen)
    if title:
        sheet.text((size[0] / 2, 6), title, anchor="mt")
    longest = max((sheet.text_width(name) for name in series), default=0.0)
    frame = plot_frame(series, chosen, plot_box(0, 0, *size, legend_text_px=longest))
    if frame is None:
        sheet.text((size[0] / 2, size[1] / 2), EMPTY_TEXT, anchor="mm")
        return sheet.picture()
    _axes(sheet, frame, chosen)
    styles = curve_styles(list(series))
    layer = _Sheet(size, background=None)
    for name, rows in series.items():
        _curve(layer, frame, rows, styles[name])
    sheet.overlay(layer, _clip(frame))
    _legend(sheet, frame, ranked(series), styles)
    return sheet.picture()


class _Sheet:
    """A canvas drawn in chart pixels and stored `SUPERSAMPLE` times larger."""

    def __init__(self, size: tuple[int, int], background: Colour | None = (255, 255, 255)):
        self.size = size
        fill = (*background, 255) if background else (0, 0, 0, 0)
        big = (size[0] * SUPERSAMPLE, size[1] * SUPERSAMPLE)
        self.image = Image.new("RGBA", big, fill)
        self.draw = ImageDraw.Draw(self.image)
        self.font = ImageFont.load_default(size=FONT_PX * SUPERSAMPLE)

    @staticmethod
    def at(x: float, y: float) -> Point:
        return x * SUPERSAMPLE, y * SUPERSAMPLE

    @staticmethod
    def px(width: float) -> int:
        return max(1, round(width * SUPERSAMPLE))

    def row_height(self) -> float:
        """A line of text from the ascender to below the descender."""
        return self.font.getbbox("Ag")[3] / SUPERSAMPLE

    def text_width(self, text: str) -> float:
        return self.draw.textlength(text, font=self.font) / SUPERSAMPLE

    def text(self, xy: Point, text: str, anchor: str = "ls", fill: Colour = INK) -> None:
        self.draw.text(self.at(*xy), text, fill=fill, font=self.font, anchor=anchor)

    def line(self, points: Sequence[Point], fill: Colour, width: float, dashed=False) -> None:
        scaled = [self.at(*p) for p in points]
        pieces = _dashes(scaled, DASH_ON * self.px(width), DASH_OFF * self.px(width))
        for piece in pieces if dashed else [scaled]:
            self.draw.line(piece, fill=fill, width=self.px(width), joint="curve")

    def rectangle(self, box: tuple[float, ...], outline: Colour, width: float) -> None:
        left, top, right, bottom = box
        self.draw.rectangle(
            (*self.at(left, top), *self.at(right, bottom)), None, outline, self.px(width)
        )

    def marker(self, at: Point, shape: str, colour: Colour, size: float = 4.0) -> None:
        x, y = at
        edge = _darker(colour)
        box = (*self.at(x - size, y - size), *self.at(x + size, y + size))
        if shape == "circle":
            self.draw.ellipse(box, fill=colour, outline=edge, width=self.px(1))
        elif shape == "square":
            self.draw.rectangle(box, fill=colour, outline=edge, width=self.px(1))
        else:
            corners = _corners(x, y, size, shape)
            self.draw.polygon([self.at(*c) for c in corners], colour, edge, self.px(1))

    def vertical_text(self, baseline_x: float, centre_y: float, text: str) -> None:
        """`text` reading upwards, its baseline at `baseline_x`, centred on `centre_y`."""
        left, top, right, bottom = (round(v) for v in self.font.getbbox(text, anchor="ls"))
        strip = Image.new("RGBA", (right - left, bottom - top), (0, 0, 0, 0))
        ImageDraw.Draw(strip).text((-left, -top), text, fill=INK, font=self.font, anchor="ls")
        turned = strip.rotate(90, expand=True)
        x, y = self.at(baseline_x, centre_y)
        self.image.alpha_composite(turned, (round(x + top), round(y - turned.height / 2)))

    def overlay(self, layer: _Sheet, clip: tuple[float, ...]) -> None:
        """Put `layer`'s drawing on this one, only inside `clip` (left, top, right, bottom)."""
        left, top = self.at(clip[0], clip[1])
        right, bottom = self.at(clip[2], clip[3])
        box = (round(left), round(top), round(right), round(bottom))
        self.image.alpha_composite(layer.image.crop(box), box[:2])

    def picture(self) -> Image.Image:
        return self.image.convert("RGB").reduce(SUPERSAMPLE)


def _axes(sheet: _Sheet, frame: PlotFrame, metric: Metric) -> None:
    for tick in x_ticks(frame.x_range):
        x, _ = frame.to_screen(tick, frame.y_range[0])
        sheet.line([(x, frame.top), (x, frame.bottom)], GRID, 1.0)
        sheet.text((x, frame.bottom + 16), f"{tick:g}", anchor="ms")
    for value in y_ticks(frame.y_range):
        _, y = frame.to_screen(frame.x_range[0], value)
        sheet.line([(frame.left, y), (frame.right, y)], GRID, 1.0)
        sheet.text((frame.left - 6, y), f"{value:g}", anchor="rm")
    sheet.rectangle((frame.left, frame.top, frame.right, frame.bottom), INK, 1.2)
    sheet.text(((frame.left + frame.right) / 2, frame.bottom + 38), X_TITLE, anchor="ms")
    sheet.vertical_text(frame.left - 46, (frame.top + frame.bottom) / 2, metric.title)


def _curve(layer: _Sheet, frame: PlotFrame, rows: list[Row], style: CurveStyle) -> None:
    colour = _rgb(style.colour)
    points = [frame.to_screen(x, y) for x, y, _ in rows]
    layer.line(points, colour, 2.0, dashed=style.dashed)
    for point in points:
        layer.marker(point, style.marker, colour)


def _legend(sheet: _Sheet, frame: PlotFrame, names: list[str], styles) -> None:
    row = sheet.row_height() + 4
    left = frame.right + 16
    sheet.text((left, frame.top + 4), LEGEND_TITLE)
    for index, name in enumerate(names):
        y = frame.top + 8 + (index + 1) * row
        colour = _rgb(styles[name].colour)
        sheet.line([(left, y), (left + 26, y)], colour, 2.0, dashed=styles[name].dashed)
        sheet.marker((left + 13, y), styles[name].marker, colour, 3.5)
        sheet.text((left + 34, y + 4), name)


def _clip(frame: PlotFrame) -> tuple[float, ...]:
    return (
        frame.left - CLIP_PAD,
        frame.top - CLIP_PAD,
        frame.right + CLIP_PAD,
        frame.bottom + CLIP_PAD,
    )


def _corners(x: float, y: float, size: float, shape: str) -> list[Point]:
    if shape == "triangle":
        return [(x, y - size - 1), (x + size + 1, y + size), (x - size - 1, y + size)]
    return [(x, y - size - 1), (x + size + 1, y), (x, y + size + 1), (x - size - 1, y)]


def _rgb(colour: str) -> Colour:
    red, green, blue = ImageColor.getrgb(colour)[:3]
    return red, green, blue


def _darker(colour: Colour, factor: float = 1.3) -> Colour:
    """The marker's edge: the colour's value divided by `factor`, as QColor.darker(130)."""
    red, green, blue = (round(c / factor) for c in colour)
    return red, green, blue


def _dashes(points: Sequence[Point], on: float, off: float) -> Iterator[list[Point]]:
    """The pieces of a polyline drawn as dashes of `on` pixels with gaps of `off`, the pattern
    running on across corners."""
    phase, drawing, piece = 0.0, True, [points[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        length = math.hypot(x1 - x0, y1 - y0)
        done = 0.0
        while length - done > (on if drawing else off) - phase:
            done += (on if drawing else off) - phase
            phase = 0.0
            at = (x0 + (x1 - x0) * done / length, y0 + (y1 - y0) * done / length)
            if drawing:
                yield [*piece, at]
            piece = [at]
            drawing = not drawing
        phase += length - done
        if drawing:
            piece.append((x1, y1))
    if drawing and len(piece) > 1:
        yield piece
