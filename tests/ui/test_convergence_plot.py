"""The window's convergence plot: distinct Qt styles per sampler, hit testing. (The ranges and
the headless PNG are tested with the Pillow chart in tests/core/test_curve_sheet.py.)"""

from __future__ import annotations

from PySide6.QtCore import QPointF

from studio.core.convergence import deterministic_samplers
from studio.ui.convergence_plot import ConvergencePlot, sampler_styles
from tests.core.test_curve_sheet import points


def test_every_plotted_sampler_gets_its_own_colour_or_line() -> None:
    styles = sampler_styles(deterministic_samplers())
    keys = {(c.name(), marker, line) for c, marker, line in styles.values()}
    assert len(keys) == len(styles)
    colours = [c.name() for c, _, _ in list(styles.values())[:16]]
    assert len(set(colours)) == len(colours)


def test_hit_testing(qapp) -> None:
    plot = ConvergencePlot()
    plot.resize(700, 420)
    plot.set_points(points(("DDIM", "UniPC")))
    plot.grab()
    position, point = plot.chart.placed[-1]
    assert plot.chart.point_at(position) is point
    assert plot.chart.point_at(QPointF(-100, -100)) is None
    assert plot.chart.ranked(plot.chart.series())[0] == "UniPC"
