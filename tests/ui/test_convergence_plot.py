"""The convergence plot's drawing rules: distinct styles, ranges, PNG output, hit testing."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF

from studio.core.convergence import ConvergencePoint, deterministic_samplers
from studio.ui.convergence_plot import (
    ConvergencePlot,
    linear_range,
    log2_range,
    render_png,
    sampler_styles,
)


def points(samplers: tuple[str, ...], steps=(2, 4, 8)) -> list[ConvergencePoint]:
    return [
        ConvergencePoint(
            sampler=name,
            steps=n,
            nfe=n,
            network_passes=2 * n,
            psnr=10 + i + 5 * math.log2(n),
            agreement=0.5,
            wall_s=0.1,
            cases=1,
        )
        for i, name in enumerate(samplers)
        for n in steps
    ]


def test_every_plotted_sampler_gets_its_own_colour_or_line() -> None:
    styles = sampler_styles(deterministic_samplers())
    keys = {(c.name(), marker, line) for c, marker, line in styles.values()}
    assert len(keys) == len(styles)
    colours = [c.name() for c, _, _ in list(styles.values())[:16]]
    assert len(set(colours)) == len(colours)


def test_axis_ranges_are_powers_of_two_and_whole_steps() -> None:
    assert log2_range([3, 17]) == (2.0, 32.0)
    assert log2_range([4, 4]) == (4.0, 8.0)
    low, high = linear_range([12.3, 60.0])
    assert low == 10.0 and high > 60.0


def test_png_bytes_and_hit_testing(qapp) -> None:
    data = render_png(points(("DDIM", "UniPC")), "psnr", "title", size=(600, 400))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    plot = ConvergencePlot()
    plot.resize(700, 420)
    plot.set_points(points(("DDIM", "UniPC")))
    plot.grab()
    position, point = plot.chart.placed[-1]
    assert plot.chart.point_at(position) is point
    assert plot.chart.point_at(QPointF(-100, -100)) is None
    assert plot.chart.ranked(plot.chart.series())[0] == "UniPC"
