"""Per-lane Skip-Tuning: the lane view-model's observable and the window's two spin boxes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from studio.core.jobs import Lane
from studio.core.pngio import write_png
from studio.core.settings import LaneRecipe, Settings, load_settings
from studio.core.skip_tuning import SKIP_MAX, SKIP_MIN, SkipTuning
from studio.viewmodels.lane import LaneViewModel
from tests.ui.test_main_window import child, drop_events, finish, make_window
from tests.viewmodels.fake_engine import FakeEngine

SPINS = ("teacherSkipTop", "teacherSkipBottom", "studentSkipTop", "studentSkipBottom")
TUNED = SkipTuning(rho_top=1.0, rho_bottom=0.85)


@pytest.fixture
def lane(qapp) -> LaneViewModel:
    return LaneViewModel(Lane.student, Settings().student)


def test_lane_skip_tuning_is_observable_and_part_of_the_recipe(lane, qtbot) -> None:
    assert lane.skip_tuning == SkipTuning()
    with qtbot.waitSignals([lane.skipTuningChanged, lane.recipeChanged]):
        lane.skip_tuning = TUNED
    assert lane.recipe.skip_tuning == TUNED
    with qtbot.assertNotEmitted(lane.recipeChanged):
        lane.skip_tuning = SkipTuning(rho_top=1.0, rho_bottom=0.85)


def test_set_recipe_emits_the_skip_tuning(lane, qtbot) -> None:
    recipe = LaneRecipe(
        sampler="Euler", num_inference_steps=4, guidance_scale=1.0, skip_tuning=TUNED
    )
    with qtbot.waitSignal(lane.skipTuningChanged) as blocker:
        lane.set_recipe(recipe)
    assert blocker.args == [TUNED] and lane.recipe == recipe


def test_a_bad_factor_is_a_message_under_the_recipe(lane) -> None:
    lane.skip_tuning = SkipTuning(rho_bottom=0.1)
    assert SkipTuning(rho_bottom=0.1).problems()[0] in lane.messages


@pytest.fixture
def window(tmp_path: Path, engine: FakeEngine, qtbot):
    return make_window(tmp_path, engine, qtbot)


def test_each_lane_has_two_skip_spin_boxes_at_one(window) -> None:
    for name in SPINS:
        spin = child(window, name)
        assert spin.isVisible() and spin.value() == 1.0, name
        assert (spin.minimum(), spin.maximum()) == (SKIP_MIN, SKIP_MAX)
        assert "Skip-Tuning" in spin.toolTip()


def test_the_spin_boxes_set_each_lane_on_its_own(window, engine, qtbot) -> None:
    child(window, "studentSkipBottom").setValue(0.85)
    assert window.session.student.skip_tuning == TUNED
    assert window.session.teacher.skip_tuning == SkipTuning()
    window.generate()
    (job,) = engine.jobs
    assert job.student.params.skip_tuning == TUNED
    assert job.teacher.params.skip_tuning == SkipTuning()


def test_the_spin_boxes_follow_the_view_model(window) -> None:
    window.session.teacher.skip_tuning = SkipTuning(rho_top=1.1, rho_bottom=0.9)
    assert child(window, "teacherSkipTop").value() == 1.1
    assert child(window, "teacherSkipBottom").value() == 0.9


def test_the_pane_caption_names_it_while_idle_and_when_done(window, engine) -> None:
    child(window, "studentSkipBottom").setValue(0.85)
    assert "skip 1.0/0.85" in window.comparison.student_view.caption()
    assert "skip" not in window.comparison.teacher_view.caption()
    window.generate()
    finish(window, engine)
    assert "skip 1.0/0.85" in window.comparison.student_view.caption()
    assert "skip" not in window.comparison.teacher_view.caption()


def test_it_is_saved_with_the_settings(tmp_path: Path, engine, qtbot) -> None:
    window = make_window(tmp_path, engine, qtbot)
    child(window, "teacherSkipTop").setValue(1.05)
    window.close()
    settings, _ = load_settings(tmp_path / "settings.json")
    assert settings.teacher.skip_tuning == SkipTuning(rho_top=1.05)
    again = make_window(tmp_path, FakeEngine(), qtbot)
    assert child(again, "teacherSkipTop").value() == 1.05


def test_a_dropped_png_sets_it(window, tmp_path: Path) -> None:
    text = "a fox\nSteps: 8, Sampler: Euler, CFG scale: 2.0, Seed: 5, Size: 32x32"
    path = write_png(
        tmp_path / "fox.png", np.zeros((4, 4, 3), np.uint8), f"{text}, Skip-Tuning: 1.0/0.9"
    )
    enter, drop, _mime = drop_events(path)
    QApplication.sendEvent(window, enter)
    QApplication.sendEvent(window, drop)
    assert child(window, "teacherSkipBottom").value() == 0.9
    assert window.session.teacher.skip_tuning == SkipTuning(rho_bottom=0.9)
