"""A shortcut model in the window: it pairs as a student with its own recipe, and the steps box
keeps to its powers of two and says so."""

from __future__ import annotations

import json

from studio.core.jobs import Lane
from studio.core.model_resolver import ModelResolver
from studio.core.settings import default_student
from studio.core.shortcut import SHORTCUT_STEP_COUNTS
from studio.ui.steps_spin import StepsSpin
from studio.viewmodels.lane import LaneViewModel
from studio.viewmodels.model_pairs import ModelPairs


def shortcut_folder(root):
    folder = root / "my-shortcut"
    folder.mkdir()
    (folder / "model_index.json").write_text("{}")
    (folder / "training.json").write_text(json.dumps({"method": "shortcut model"}))
    return folder


def test_a_shortcut_folder_pairs_as_a_student_with_its_step_counts(tmp_path):
    shortcut_folder(tmp_path)
    teacher = tmp_path / "emoji-teacher"
    teacher.mkdir()
    (teacher / "model_index.json").write_text("{}")
    models = ModelPairs(ModelResolver(tmp_path))
    pairs = models.pairs_of(["emoji-teacher", "my-shortcut"])
    pair = pairs[0]
    assert pair.student == "my-shortcut" and pair.student_steps == SHORTCUT_STEP_COUNTS
    assert pair.guidance_distilled and pair.student_recipe is not None
    assert pair.student_recipe.num_inference_steps in SHORTCUT_STEP_COUNTS
    assert models.step_counts("emoji-teacher") == ()


def test_the_steps_box_keeps_to_the_allowed_counts(qtbot):
    spin = StepsSpin()
    qtbot.addWidget(spin)
    spin.setValue(5)
    spin.set_allowed(SHORTCUT_STEP_COUNTS)
    assert spin.value() == 4 and "powers of two" in spin.toolTip()
    spin.stepBy(1)
    assert spin.value() == 8
    spin.stepBy(-2)
    assert spin.value() == 2
    assert spin.validate("16", 2)[0].name == "Acceptable"
    assert spin.validate("5", 1)[0].name == "Invalid"
    assert spin.validate("3", 1)[0].name == "Intermediate"  # on the way to 32
    assert spin.validate("1", 1)[0].name == "Acceptable"
    assert spin.validate("12", 2)[0].name == "Intermediate"  # on the way to 128
    assert spin.fixup("100") == "128"
    spin.set_allowed(())
    spin.setValue(7)
    assert spin.value() == 7 and "powers of two" not in spin.toolTip()


def test_a_lane_with_step_counts_names_a_count_outside_them(qtbot):
    lane = LaneViewModel(Lane.student, default_student())
    lane.step_counts = SHORTCUT_STEP_COUNTS
    lane.num_inference_steps = 4
    assert not lane.problems
    lane.num_inference_steps = 5
    assert any("shortcut model" in p for p in lane.problems)
