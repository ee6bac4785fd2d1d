"""Panes, captions, strips and the summary always belong to one job (issue 16, item 2)."""

from __future__ import annotations

import re

import pytest

from studio.ui.preview_area import CELL_STRIP_NOTE, STALE_NOTE
from tests.ui.test_main_window import finish, make_window
from tests.ui.test_preset_picker import LIGHTNING, choose
from tests.ui.test_studies_window import open_sampler_cell
from tests.viewmodels.fake_engine import FakeEngine


@pytest.fixture
def window(tmp_path, engine: FakeEngine, qtbot):
    return make_window(tmp_path, engine, qtbot)


def total_seconds(caption: str) -> float:
    found = re.search(r"total (\d+\.\d+) s", caption)
    assert found is not None, caption
    return float(found.group(1))


def shown_speedup(summary: str) -> float:
    found = re.search(r"Student (\d+\.\d)x faster", summary)
    assert found is not None, summary
    return float(found.group(1))


def pair_and_alone(window):
    pairs = window.controls.model_combo.pairs()
    return next(p for p in pairs if p.compare), next(p for p in pairs if not p.compare)


def test_after_teacher_alone_the_pair_shows_no_stale_student_or_summary(window, engine) -> None:
    pair, alone = pair_and_alone(window)
    window.session.student.num_inference_steps = 2
    window.generate()
    finish(window, engine)
    assert "faster" in window.comparison.summary()
    window.apply_pair(alone)
    window.session.teacher.num_inference_steps = 10
    window.generate()
    finish(window, engine)
    window.apply_pair(pair)
    comparison = window.comparison
    assert comparison.teacher_view.has_image() and "10 steps" in comparison.teacher_view.caption()
    assert not comparison.student_view.has_image()
    assert STALE_NOTE in comparison.student_view.caption()
    assert comparison.summary() == ""
    assert window.preview.strips["student"].note() == STALE_NOTE
    assert window.preview.strips["student"].frame_count() == 0


def test_the_summary_speedup_is_the_shown_teacher_time_over_the_shown_student_time(
    window, engine
) -> None:
    pair, alone = pair_and_alone(window)
    window.generate()
    finish(window, engine)
    window.apply_pair(alone)
    window.session.teacher.num_inference_steps = 40
    window.generate()
    finish(window, engine)
    window.apply_pair(pair)
    window.generate()
    finish(window, engine)
    comparison = window.comparison
    teacher = total_seconds(comparison.teacher_view.caption())
    student = total_seconds(comparison.student_view.caption())
    assert "40 steps" in comparison.teacher_view.caption()
    assert shown_speedup(comparison.summary()) == pytest.approx(teacher / student, abs=0.15)


def test_choosing_a_preset_keeps_the_shown_images_labelled_with_their_own_models(
    window, engine
) -> None:
    window.generate()
    finish(window, engine)
    comparison = window.comparison
    before = comparison.teacher_view.caption(), comparison.student_view.caption()
    summary = comparison.summary()
    choose(window, LIGHTNING)
    assert "emoji-teacher" in comparison.teacher_view.caption()
    assert (comparison.teacher_view.caption(), comparison.student_view.caption()) == before
    assert "stable-diffusion" not in comparison.teacher_view.caption()
    assert comparison.summary() == summary
    assert "stable-diffusion-xl" in window.controls.teacher_panel.model_label.text()


def test_a_grid_cell_in_compare_clears_the_step_strips(window, engine, qtbot) -> None:
    window.generate()
    finish(window, engine)
    assert window.preview.strips["teacher"].frame_count() == 25
    open_sampler_cell(window, engine, qtbot)
    assert window.current_page() is window.preview
    assert window.comparison.student_view.caption().startswith("Euler · 3 steps")
    for name in ("teacher", "student"):
        assert window.preview.strips[name].frame_count() == 0
        assert window.preview.strips[name].note() == CELL_STRIP_NOTE
        assert window.preview.progress[name].state() == "idle"
