"""The convergence chart's rules and its headless PNG (Pillow, no Qt)."""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from studio.core.convergence import ConvergencePoint
from studio.core.curve_chart import linear_range, log2_range
from studio.core.curve_sheet import curve_png


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


def test_axis_ranges_are_powers_of_two_and_whole_steps() -> None:
    assert log2_range([3, 17]) == (2.0, 32.0)
    assert log2_range([4, 4]) == (4.0, 8.0)
    low, high = linear_range([12.3, 60.0])
    assert low == 10.0 and high > 60.0


def test_png_bytes() -> None:
    data = curve_png(points(("DDIM", "UniPC")), "psnr", "title", size=(600, 400))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(data)).size == (600, 400)


def test_each_curve_is_drawn_in_its_colour() -> None:
    """DDIM is the catalogue's first plotted sampler (#4e79a7), UniPC the second (#f28e2b)."""
    picture = np.asarray(Image.open(io.BytesIO(curve_png(points(("DDIM", "UniPC")), "psnr", ""))))
    for colour in ((0x4E, 0x79, 0xA7), (0xF2, 0x8E, 0x2B)):
        close = np.abs(picture.astype(int) - colour).sum(axis=2) < 30
        assert close.sum() > 200, colour


def test_no_points_says_so_on_a_plain_chart() -> None:
    picture = np.asarray(Image.open(io.BytesIO(curve_png([], "agreement", "", size=(400, 300)))))
    assert picture.shape == (300, 400, 3)
    assert (picture < 128).any() and (picture > 250).mean() > 0.9


def test_the_legend_margin_widens_for_a_long_student_name_and_is_capped() -> None:
    from dataclasses import replace

    from studio.core.curve_chart import MARGIN, plot_box

    assert plot_box(0, 0, 1000, 600)[2] == 1000 - MARGIN["right"], "short names: the default"
    assert plot_box(0, 0, 1000, 600, legend_text_px=300)[2] == 1000 - (50 + 300 + 12)
    assert plot_box(0, 0, 1000, 600, legend_text_px=900)[2] == 1000 - 450, "at most 45%"
    long = [replace(p, model="emoji-student-sid") for p in points(("DDIM trailing",))]
    picture = np.asarray(Image.open(io.BytesIO(curve_png(points(("UniPC",)) + long, "psnr", ""))))
    ink = np.nonzero((picture < 200).any(axis=2))[1]
    assert ink.max() < picture.shape[1] - 4, "the legend's longest name ends inside the picture"
