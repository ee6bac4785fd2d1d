"""File › Export grid row animation… in the real window: disabled until a grid ran with
previews, asks which row when several can be animated, and writes the row forming."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtWidgets import QFileDialog, QInputDialog

from studio.ui.main_window import MainWindow
from studio.viewmodels.lane import HISTORY_LIMIT
from tests.ui.test_main_window import finish, make_window
from tests.ui.test_studies_window import run_grid, set_axes
from tests.viewmodels.fake_engine import FakeEngine


@pytest.fixture
def window(tmp_path: Path, engine: FakeEngine, qtbot) -> MainWindow:
    return make_window(tmp_path, engine, qtbot)


@pytest.fixture
def gif_dialog(monkeypatch, tmp_path: Path) -> list[str]:
    """Save dialogs answer tmp/out/NAME with no suffix and the GIF filter picked; each call's
    start path is noted, then its title."""
    asked: list[str] = []

    def answer(parent, title, start, *args, **kwargs):
        asked.extend((start, title))
        return str(tmp_path / "out" / Path(start).stem), "Animated GIF (*.gif)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", answer)
    return asked


def test_export_grid_row_asks_the_row_then_writes_it_forming(
    window, engine, qtbot, gif_dialog, monkeypatch, tmp_path
) -> None:
    action = window.window_actions.export_grid_row
    assert not action.isEnabled()
    window.session.seed = 7
    set_axes(window, qtbot, ("sampler", "DDIM, Euler"), ("steps", "2, 3"))
    run_grid(window, qtbot)
    finish(window, engine)
    assert action.isEnabled()
    offered: list[list[str]] = []

    def pick(parent, title, label, items, current, editable):
        offered.append(list(items))
        return items[1], True

    monkeypatch.setattr(QInputDialog, "getItem", pick)
    action.trigger()
    assert offered == [["Row 1: 2 steps", "Row 2: 3 steps"]]
    start, title = gif_dialog
    assert Path(start).name == "grid-7-row2.webp"
    assert title == "Export the grid row animation (Row 2: 3 steps) as"
    written = tmp_path / "out" / "grid-7-row2.gif"
    with Image.open(written) as image:
        # Both cells form at the same pace: nothing, steps 1, 2 and 3 (the last with the final
        # image, held).
        assert image.format == "GIF" and image.n_frames == 4
    assert "Exported the grid row animation (Row 2: 3 steps)" in window.status_line.text()


def test_export_grid_row_without_previews_says_why(window, engine, qtbot, gif_dialog) -> None:
    window.session.preview_every = 0
    set_axes(window, qtbot, ("sampler", "DDIM, Euler"), ("steps", "2"))
    run_grid(window, qtbot)
    finish(window, engine)
    assert not window.window_actions.export_grid_row.isEnabled()
    assert window.exports.export_grid_row() is None
    assert "Run a grid with previews on first" in window.banner.message()
    assert gif_dialog == []


def test_a_long_run_keeps_the_step_strip_within_the_lanes_history_bound(window, engine) -> None:
    from tests.ui.test_live_strip import strip_steps, teacher_previews

    window.session.teacher.num_inference_steps = 300
    window.generate()
    teacher_previews(window, engine.events(), 300)
    lane, strip = window.session.teacher, window.preview.strips["teacher"]
    assert lane.running and len(lane.history) <= HISTORY_LIMIT
    assert strip_steps(strip) == lane.history_steps and strip.current_step() == 300
