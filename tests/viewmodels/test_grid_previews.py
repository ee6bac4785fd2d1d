"""Grid cells' step previews in the window (kept by the cell they name, bounded, for a row's
animation) and the lane's bounded preview history."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.core.events import PreviewReady
from studio.core.jobs import GridJob, Lane
from studio.viewmodels.lane import HISTORY_LIMIT, LaneViewModel
from studio.viewmodels.session import SessionViewModel
from tests.viewmodels.fake_engine import FakeEngine


def run_grid(session: SessionViewModel, engine: FakeEngine, x: str, y: str) -> GridJob:
    grid = session.grid
    grid.x_axis, grid.x_values, grid.y_axis, grid.y_values = "sampler", x, "steps", y
    assert grid.run()
    engine.pump(session.handle)
    job = engine.jobs[-1]
    assert isinstance(job, GridJob)
    return job


def test_a_grid_asks_for_the_sessions_previews_and_keeps_them_by_cell(session, engine) -> None:
    session.preview_every = 2
    job = run_grid(session, engine, "DDIM, Euler", "2, 4")
    assert job.previews.every == 2
    grid = session.grid
    assert {cell: sorted(k.frames) for cell, k in grid.previews.items()} == {
        (0, 0): [2], (1, 0): [2], (0, 1): [2, 4], (1, 1): [2, 4],
    }  # fmt: skip
    assert grid.animated_rows() == [0, 1] and grid.can_animate
    assert [grid.row_label(y) for y in (0, 1)] == ["Row 1: 2 steps", "Row 2: 4 steps"]


def test_a_preview_lands_on_the_cell_it_names_whatever_the_order(session, engine) -> None:
    run_grid(session, engine, "DDIM, Euler", "2")
    grid = session.grid
    before = grid.previews[(0, 0)].frames[1]
    late = PreviewReady(
        job_id=grid.job_id, lane=Lane.main, step=1, total=2,
        x_t=np.full((8, 8, 3), 77, np.uint8), cell=(1, 0),
    )  # fmt: skip
    grid.handle(late)
    grid.handle(replace(late, x_t=np.full((8, 8, 3), 99, np.uint8), cell=None))
    assert grid.previews[(1, 0)].frames[1][0, 0, 0] == 77
    assert grid.previews[(0, 0)].frames[1] is before
    kept = [image for keeper in grid.previews.values() for image in keeper.frames.values()]
    assert not any(image[0, 0, 0] == 99 for image in kept), "a preview of no cell is not kept"


def test_a_grid_row_exports_as_an_animation_and_a_grid_without_previews_cannot(
    session, engine, tmp_path: Path
) -> None:
    run_grid(session, engine, "DDIM, Euler, UniPC", "3")
    written = session.grid.export_row_animation(tmp_path / "row.webp", 0)
    with Image.open(written) as image:
        assert image.format == "WEBP" and image.n_frames == 4  # none yet, steps 1, 2, 3 + done
        assert image.size[0] > 3 * image.size[1] / 2  # three panes side by side
    session.preview_every = 0
    run_grid(session, engine, "DDIM, Euler", "3")
    assert session.grid.previews == {} and not session.grid.can_animate
    with pytest.raises(ValueError, match="previews on"):
        session.grid.export_row_animation(tmp_path / "none.webp", 0)


def test_the_lane_history_is_bounded_and_keeps_the_latest(session) -> None:
    lane: LaneViewModel = session.teacher
    lane.begin("j", 1000)
    for step in range(1, 1001):
        pixel = np.full((4, 4, 3), step % 256, np.uint8)
        lane.on_preview(
            PreviewReady(job_id="j", lane=Lane.teacher, step=step, total=1000, x_t=pixel)
        )
    steps = lane.history_steps
    assert HISTORY_LIMIT // 2 <= len(steps) <= HISTORY_LIMIT
    assert steps[-1] == 1000 and lane.latest_step == 1000
    gaps = {b - a for a, b in itertools.pairwise(steps)}
    assert max(gaps) <= 2 * min(gaps), "an even spread for the scrubber"
    assert lane.preview[0, 0, 0] == 1000 % 256
    assert set(lane.kept_previews()) == set(steps)
