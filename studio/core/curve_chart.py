"""The convergence chart's rules, shared by the window's Qt plot and the headless PNG: which
metric the y axis shows, each sampler's colour, marker and line, the axis ranges and ticks, the
plotted points, the legend order and the layout. No drawing here.

x is the number of model evaluations on a log2 axis; y the metric on a linear axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from studio.core.convergence import ConvergencePoint, curves
from studio.core.samplers import SAMPLER_NAMES

PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#17becf", "#bcbd22", "#1f3b73", "#222222", "#d81b60", "#7f7f7f", "#00a087",
)  # fmt: skip
MARKERS = ("circle", "square", "triangle", "diamond")
MARGIN = {"left": 64.0, "right": 190.0, "top": 36.0, "bottom": 52.0}
DODGE_LOG2 = 0.02
X_PAD_LOG2 = 0.2
X_TITLE = "model evaluations (NFE, log scale)"
LEGEND_TITLE = "best first"
EMPTY_TEXT = "No convergence points yet"
MIN_PLOT_PX = 40

Row = tuple[float, float, ConvergencePoint]


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


@dataclass(frozen=True, slots=True)
class CurveStyle:
    """How one sampler's curve looks: a colour ("#rrggbb"), a marker shape, a dashed line or not."""

    colour: str
    marker: str
    dashed: bool


def curve_styles(names: Sequence[str]) -> dict[str, CurveStyle]:
    """A distinct colour, marker and line style for each plotted sampler, in catalogue order
    (so a plot of up to 16 samplers never repeats a colour)."""
    order = sorted(names, key=lambda n: (SAMPLER_NAMES.index(n) if n in SAMPLER_NAMES else 999, n))
    styles = {}
    for index, name in enumerate(order):
        dashed = (index // len(PALETTE)) % 2 == 1 or index % 2 == 1
        marker = MARKERS[(index + index // len(PALETTE)) % len(MARKERS)]
        styles[name] = CurveStyle(PALETTE[index % len(PALETTE)], marker, dashed)
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


def padded(fixed: tuple[float, float]) -> tuple[float, float]:
    pad = (fixed[1] - fixed[0]) * 0.04
    return fixed[0] - pad, fixed[1] + pad


def x_ticks(x_range: tuple[float, float]) -> list[float]:
    """Every power of two across the x range."""
    ticks, tick = [], x_range[0]
    while tick <= x_range[1] * 1.0001:
        ticks.append(tick)
        tick *= 2
    return ticks


def y_ticks(y_range: tuple[float, float]) -> list[float]:
    span = y_range[1] - y_range[0]
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100) if span / s <= 8)
    first = math.ceil(y_range[0] / step) * step
    return [first + i * step for i in range(int((y_range[1] - first) / step) + 1)]


def chart_series(points: Sequence[ConvergencePoint], metric: Metric) -> dict[str, list[Row]]:
    """Per sampler: (x, y, point). A fixed-range metric (agreement) takes few distinct
    values, so its curves are dodged sideways a little to keep overlapping ones visible."""
    out = {}
    grouped = curves(list(points))
    for index, (name, curve) in enumerate(grouped.items()):
        shift = (index - (len(grouped) - 1) / 2) * DODGE_LOG2 if metric.fixed else 0.0
        rows = [(p.nfe * 2.0**shift, metric.value(p), p) for p in curve]
        kept = [(x, y, p) for x, y, p in rows if y is not None and x > 0 and math.isfinite(y)]
        if kept:
            out[name] = kept
    return out


def ranked(series: dict[str, list[Row]]) -> list[str]:
    """Legend order: the best curve (highest mean value) first."""
    return sorted(series, key=lambda name: -sum(y for _, y, _ in series[name]) / len(series[name]))


@dataclass(frozen=True, slots=True)
class PlotFrame:
    """The plot rectangle inside the chart and the data ranges it shows; maps data to pixels."""

    left: float
    top: float
    right: float
    bottom: float
    x_range: tuple[float, float]
    y_range: tuple[float, float]

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    def to_screen(self, x: float, y: float) -> tuple[float, float]:
        lx0 = math.log2(self.x_range[0]) - X_PAD_LOG2
        lx1 = math.log2(self.x_range[1]) + X_PAD_LOG2
        y0, y1 = self.y_range
        fx = (math.log2(x) - lx0) / (lx1 - lx0)
        fy = (y - y0) / (y1 - y0)
        return self.left + fx * self.width, self.bottom - fy * self.height


LEGEND_SWATCH_PX = 50.0  # the gap after the plot, the line and marker sample, the gap to the name
LEGEND_MAX_SHARE = 0.45


def plot_box(
    left: float, top: float, width: float, height: float, legend_text_px: float = 0.0
) -> tuple[float, ...]:
    """The plot rectangle (left, top, right, bottom) inside a chart, margins taken off; the
    right margin widens to fit the legend's longest name (`legend_text_px`, as measured by
    whoever draws it), up to `LEGEND_MAX_SHARE` of the chart."""
    legend = min(LEGEND_SWATCH_PX + legend_text_px + 12, LEGEND_MAX_SHARE * width)
    return (
        left + MARGIN["left"],
        top + MARGIN["top"],
        left + width - max(MARGIN["right"], legend),
        top + height - MARGIN["bottom"],
    )


def plot_frame(
    series: dict[str, list[Row]], metric: Metric, box: tuple[float, ...]
) -> PlotFrame | None:
    """Where the curves go in `box` (from `plot_box`); None when there is nothing to plot or no
    room (the chart then says so instead)."""
    left, top, right, bottom = box
    if not series or right - left < MIN_PLOT_PX or bottom - top < MIN_PLOT_PX:
        return None
    xs = [float(p.nfe) for rows in series.values() for _, _, p in rows]
    ys = [y for rows in series.values() for _, y, _ in rows]
    y_range = padded(metric.fixed) if metric.fixed else linear_range(ys)
    return PlotFrame(left, top, right, bottom, log2_range(xs), y_range)
