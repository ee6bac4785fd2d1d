"""LaneViewModel: observable recipe with messages, progress, ETA, previews and their history."""

from __future__ import annotations

import math

import numpy as np
import pytest

from studio.core.events import LaneFinished, PreviewReady, StepProgress, Timings
from studio.core.jobs import Lane
from studio.core.models import ModelRef
from studio.core.params import GenerationParams
from studio.core.settings import LaneRecipe, Settings
from studio.viewmodels.lane import LaneEnd, LaneViewModel


def image(shade: int) -> np.ndarray:
    return np.full((4, 4, 3), shade, dtype=np.uint8)


def step(n: int, total: int = 5, elapsed: float | None = None) -> StepProgress:
    seconds = 1.0 + 0.5 * n if elapsed is None else elapsed
    return StepProgress(job_id="j", lane=Lane.teacher, step=n, total=total, elapsed_s=seconds)


def preview(n: int, x0: bool = True) -> PreviewReady:
    return PreviewReady(
        job_id="j",
        lane=Lane.teacher,
        step=n,
        total=5,
        x_t=image(n),
        x0=image(100 + n) if x0 else None,
    )


def finished(partial: bool = False, steps: int = 5) -> LaneFinished:
    return LaneFinished(
        job_id="j",
        lane=Lane.teacher,
        images=(image(200),),
        params=GenerationParams(),
        model=ModelRef.embedded("emoji-teacher"),
        timings=Timings(step_s=(0.5,) * steps, total_s=3.0),
        steps=steps,
        partial=partial,
    )


@pytest.fixture
def lane(qapp) -> LaneViewModel:
    return LaneViewModel(Lane.teacher, Settings().teacher)


def test_recipe_fields_emit_and_validate(lane: LaneViewModel, qtbot) -> None:
    with qtbot.waitSignals(
        [lane.numInferenceStepsChanged, lane.recipeChanged, lane.messagesChanged]
    ):
        lane.num_inference_steps = 0
    assert lane.recipe.num_inference_steps == 0
    assert any("number of steps" in m for m in lane.messages)
    with qtbot.assertNotEmitted(lane.recipeChanged):
        lane.num_inference_steps = 0
    lane.guidance_scale = 2
    assert lane.guidance_scale == 2.0 and isinstance(lane.guidance_scale, float)
    with pytest.raises(TypeError):
        lane.num_inference_steps = 2.5


def test_set_recipe_and_warnings(lane: LaneViewModel, qtbot) -> None:
    recipe = LaneRecipe(sampler="Euler", num_inference_steps=9, guidance_scale=2.0)
    with qtbot.waitSignal(lane.samplerChanged) as blocker:
        lane.set_recipe(recipe)
    assert blocker.args == ["Euler"] and lane.recipe == recipe
    with qtbot.waitSignal(lane.messagesChanged):
        lane.set_warnings(["Careful."])
    assert lane.messages == ["Careful."]


def test_progress_and_eta_from_step_pace(lane: LaneViewModel, qtbot) -> None:
    lane.begin("j", 5)
    assert (lane.total, lane.step, math.isnan(lane.eta_s)) == (5, 0, True)
    lane.on_step(step(1, elapsed=2.0))
    assert lane.eta_s == pytest.approx(2.0 * 4)
    with qtbot.waitSignal(lane.progressChanged) as blocker:
        lane.on_step(step(3, elapsed=3.0))
    assert blocker.args == [3, 5]
    assert lane.eta_s == pytest.approx(0.5 * 2)
    assert lane.status == "Step 3/5 · 1.0 s left" and lane.running


def test_previews_history_and_kind_toggle(lane: LaneViewModel, qtbot) -> None:
    lane.begin("j")
    assert lane.preview is None and lane.current_image() is None
    for n in (1, 2, 3):
        lane.on_preview(preview(n, x0=n != 3))
    assert lane.history_steps == [1, 2, 3]
    assert lane.preview[0, 0, 0] == 3  # step 3 has no x0, so x_t is shown
    assert lane.preview_at(2)[0, 0, 0] == 102
    with qtbot.waitSignals([lane.previewKindChanged, lane.previewChanged]):
        lane.preview_kind = "xt"
    assert lane.preview_at(2)[0, 0, 0] == 2
    assert lane.x0 is lane.preview_at(3, "xt") and lane.x_t[0, 0, 0] == 3
    assert lane.preview_at(9) is None


def test_finished_then_new_job_resets(lane: LaneViewModel, qtbot) -> None:
    lane.begin("j")
    lane.on_preview(preview(1))
    with qtbot.waitSignal(lane.finished):
        lane.on_finished(finished())
    assert lane.image[0, 0, 0] == 200 and lane.current_image() is lane.image
    assert (lane.steps, lane.partial, lane.timings.total_s, lane.running) == (5, False, 3.0, False)
    assert lane.status == "Done: 5 steps in 3.00 s"
    lane.begin("k")
    assert lane.history == {} and lane.images == () and lane.timings is None
    assert lane.job_id == "k"


def test_partial_and_ended_status(lane: LaneViewModel) -> None:
    lane.begin("j")
    lane.on_finished(finished(partial=True, steps=2))
    assert lane.partial and "partial" in lane.status
    lane.begin("k")
    lane.end("Cancelled", LaneEnd.cancelled)
    assert (lane.status, lane.running) == ("Cancelled", False)
