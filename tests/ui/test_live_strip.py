"""The step strip filling while a lane runs: one frame per kept preview, inserted as it arrives,
following the newest unless the user picked an earlier one, and the finished state as before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from studio.core.events import Event, LaneFinished, PreviewReady
from studio.core.jobs import Lane
from studio.ui.main_window import MainWindow
from studio.ui.preview_area import PaneOverride
from studio.ui.step_strip import StepStrip
from studio.viewmodels.lane import HISTORY_LIMIT
from tests.ui.test_main_window import finish, make_window
from tests.viewmodels.fake_engine import FakeEngine


@pytest.fixture
def window(tmp_path: Path, engine: FakeEngine, qtbot) -> MainWindow:
    return make_window(tmp_path, engine, qtbot)


def teacher_previews(window: MainWindow, events: Iterator[Event], count: int) -> list[int]:
    """Hand events on until `count` more teacher previews have arrived; their steps."""
    steps: list[int] = []
    for event in events:
        window.session.handle(event)
        if isinstance(event, PreviewReady) and event.lane is Lane.teacher:
            steps.append(event.step)
            if len(steps) == count:
                break
    QApplication.processEvents()
    return steps


def strip_steps(strip: StepStrip) -> list[int]:
    return [step for step, _ in strip.model.frames()]


def resets(strip: StepStrip) -> list[int]:
    counted: list[int] = []
    strip.model.modelReset.connect(lambda: counted.append(1))
    return counted


def click_row(strip: StepStrip, qtbot, row: int) -> None:
    view = strip.thumbnails
    rect = view.visualRect(strip.model.index(row, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_frames_arrive_one_per_kept_preview_by_insertion(window, engine) -> None:
    window.session.preview_every = 5
    window.generate()
    events = engine.events()
    strip = window.preview.strips["teacher"]
    assert teacher_previews(window, events, 1) == [5]
    reset = resets(strip)
    inserted: list[int] = []
    strip.model.rowsInserted.connect(lambda _parent, first, _last: inserted.append(first))
    assert strip_steps(strip) == [5]
    assert teacher_previews(window, events, 3) == [10, 15, 20]
    assert window.session.teacher.running
    assert strip_steps(strip) == [5, 10, 15, 20]
    assert inserted == [1, 2, 3] and reset == []
    assert strip.slider.maximum() == 3 and strip.current_step() == 20
    assert "20 · 4 of 4" in strip.label.text()


def test_the_pane_follows_the_newest_frame(window, engine) -> None:
    window.generate()
    events = engine.events()
    teacher_previews(window, events, 3)
    strip = window.preview.strips["teacher"]
    assert strip.current_step() == 3 and strip.following()
    shown = window.comparison.teacher_view
    assert "step 3/25" in shown.caption() and "showing" not in shown.caption()
    assert window.preview.followers["teacher"].image() is window.session.teacher.preview


def test_thumbnails_are_made_only_when_seen(window, engine) -> None:
    window.session.student.num_inference_steps = 4
    window.session.teacher.num_inference_steps = 200
    window.generate()
    events = engine.events()
    teacher_previews(window, events, 3)
    strip = window.preview.strips["teacher"]
    strip.select_step(1)
    teacher_previews(window, events, 147)
    kept = window.session.teacher.history_steps
    assert len(kept) <= HISTORY_LIMIT < 150, "the lane thinned its history past its bound"
    assert strip_steps(strip) == kept and kept[-1] == 150
    assert strip.current_step() == 2, "the picked step 1 was dropped: the nearest kept one"
    assert 0 < strip.model.thumbnails_made() < 50


def test_an_earlier_frame_picked_mid_run_stays_while_frames_arrive(window, engine, qtbot) -> None:
    window.generate()
    events = engine.events()
    teacher_previews(window, events, 4)
    strip = window.preview.strips["teacher"]
    focused = QApplication.focusWidget()
    click_row(strip, qtbot, 1)
    assert strip.current_step() == 2
    teacher_previews(window, events, 3)
    assert strip.frame_count() == 7 and strip.current_step() == 2
    assert "2 · 2 of 7" in strip.label.text()
    shown = window.comparison.teacher_view
    assert "showing step 2 · running, step 7/25" in shown.caption()
    pinned = window.session.teacher.preview_at(2)
    assert window.preview.followers["teacher"].image() is pinned
    assert window.session.teacher.preview is not pinned
    assert QApplication.focusWidget() in (focused, strip.thumbnails)


def test_end_resumes_following(window, engine, qtbot) -> None:
    window.generate()
    events = engine.events()
    teacher_previews(window, events, 4)
    strip = window.preview.strips["teacher"]
    strip.select_step(1)
    qtbot.keyClick(strip, Qt.Key.Key_Right)
    teacher_previews(window, events, 1)
    assert strip.current_step() == 2 and not strip.following()
    qtbot.keyClick(strip, Qt.Key.Key_End)
    assert strip.current_step() == 5 and strip.following()
    teacher_previews(window, events, 2)
    assert strip.current_step() == 7
    assert "showing" not in window.comparison.teacher_view.caption()
    assert window.preview.followers["teacher"].image() is window.session.teacher.preview


def test_picking_the_newest_frame_resumes_following(window, engine, qtbot) -> None:
    window.generate()
    events = engine.events()
    teacher_previews(window, events, 4)
    strip = window.preview.strips["teacher"]
    strip.select_step(2)
    assert "showing step 2" in window.comparison.teacher_view.caption()
    click_row(strip, qtbot, 3)
    teacher_previews(window, events, 1)
    assert strip.current_step() == 5
    assert "showing" not in window.comparison.teacher_view.caption()


def test_switching_the_kind_mid_run_keeps_the_frames_and_the_pick(window, engine) -> None:
    window.generate()
    events = engine.events()
    teacher_previews(window, events, 4)
    strip = window.preview.strips["teacher"]
    strip.select_step(2)
    window.preview.set_preview_kind("xt")
    assert strip_steps(strip) == [1, 2, 3, 4] and strip.current_step() == 2
    x_t = window.session.teacher.preview_at(2, "xt")
    assert window.preview.followers["teacher"].image() is x_t


def end_state(window: MainWindow, engine: FakeEngine, *, live: bool) -> list[tuple[int, bytes]]:
    """The teacher strip's frames once the comparison ends, its steps and image bytes."""
    window.generate()
    events = engine.events()
    if live:
        teacher_previews(window, events, 3)
        window.preview.strips["teacher"].select_step(2)
        for event in events:
            window.session.handle(event)
    else:
        engine.pump(window.session.handle)
    QApplication.processEvents()
    strip = window.preview.strips["teacher"]
    assert strip.current_index() == strip.frame_count() - 1
    assert "showing" not in window.comparison.teacher_view.caption()
    return [(step, image.tobytes()) for step, image in strip.model.frames()]


def test_the_end_state_is_what_the_run_leaves(window, engine) -> None:
    window.session.preview_every = 5
    live = end_state(window, engine, live=True)
    lane = window.session.teacher
    assert lane.image is not None
    expected = [(step, lane.preview_at(step).tobytes()) for step in (5, 10, 15, 20)]
    assert live == [*expected, (25, lane.image.tobytes())]
    assert end_state(window, engine, live=False) == live


def test_a_new_run_clears_the_strip(window, engine) -> None:
    window.generate()
    finish(window, engine)
    strip = window.preview.strips["teacher"]
    assert strip.frame_count() == 25
    window.generate()
    events = engine.events()
    teacher_previews(window, events, 2)
    assert strip_steps(strip) == [1, 2]


def test_a_held_pane_gets_nothing_appended(window, engine) -> None:
    window.generate()
    events = engine.events()
    teacher_previews(window, events, 2)
    blank = np.zeros((8, 8, 3), np.uint8)
    override = PaneOverride(left=(blank, ""), right=(blank, ""), summary="", strip_note="held")
    window.preview.show_override(override)
    strip = window.preview.strips["teacher"]
    assert strip.frame_count() == 0
    teacher_previews(window, events, 3)
    assert strip.frame_count() == 0 and strip.note() == "held"
    for event in events:
        window.session.handle(event)
        if isinstance(event, LaneFinished):
            break
    assert strip.frame_count() == 0 and strip.note() == "held"
