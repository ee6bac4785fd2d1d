"""Grid axes: parsing, one-sentence errors, limits, and the cells they make."""

from __future__ import annotations

import pytest

from studio.core.grid import (
    MAX_GRID_CELLS,
    Axis,
    AxisName,
    GridSpec,
    LaneChoice,
    dispatch_order,
    parse_axis,
    parse_grid,
    run_order,
    work_estimate,
)
from studio.core.jobs import GridJob, LaneSpec, job_problems
from studio.core.models import ModelRef
from studio.core.params import GenerationParams, ValidationError
from studio.core.skip_tuning import SkipTuning

TEACHER = ModelRef.embedded("emoji-teacher")
BASE = GenerationParams(prompt="cat", seed=42, width=32, height=32, num_inference_steps=20)


def one_problem(text: str) -> str:
    with pytest.raises(ValidationError) as info:
        parse_axis(text)
    assert len(info.value.problems) == 1
    return info.value.problems[0]


def test_parses_every_text_axis() -> None:
    assert parse_axis("sampler=ddim, euler ,DPM++ 2M").values == ("DDIM", "Euler", "DPM++ 2M")
    assert parse_axis("steps=4,8,16,32").values == (4, 8, 16, 32)
    assert parse_axis("guidance=1,3,5").values == (1.0, 3.0, 5.0)
    assert parse_axis("CFG=1.5").name is AxisName.guidance
    assert parse_axis("eta=0,0.5,1").values == (0.0, 0.5, 1.0)
    assert parse_axis("skip_bottom=1,0.9").values == (1.0, 0.9)
    assert parse_axis("skip-top=0.95").name is AxisName.skip_top
    models = parse_axis("model=emoji-teacher,emoji-student-4step").values
    assert models == (TEACHER, ModelRef.embedded("emoji-student-4step"))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("seed=1,2", "Unknown grid axis 'seed'"),
        ("steps", "NAME=V1,V2"),
        ("steps=", "has no values"),
        ("steps=4,,8", "empty value"),
        ("steps=four", "'four' is not a whole number"),
        ("steps=0", "out of range: use 1 to 1000"),
        ("guidance=lots", "is not a number"),
        ("eta=1.5", "out of range: use 0 to 1"),
        ("skip_bottom=0.1", "out of range: use 0.5 to 1.5"),
        ("sampler=Euler b", "Unknown sampler 'Euler b'"),
        ("steps=4,8,4", "lists 4 twice"),
        ("steps=" + ",".join(str(n) for n in range(1, 30)), "use at most 16"),
        ("lane=teacher", "Unknown grid axis 'lane'"),
    ],
)
def test_bad_axes_get_one_clear_sentence(text: str, words: str) -> None:
    problem = one_problem(text)
    assert words in problem
    assert problem.endswith(".")


def test_same_axis_twice_and_too_many_cells_are_refused() -> None:
    with pytest.raises(ValidationError, match="both vary steps"):
        parse_grid("steps=4,8", "steps=16,32")
    values = ",".join(str(n) for n in range(1, 12))
    with pytest.raises(ValidationError, match=f"at most {MAX_GRID_CELLS}"):
        parse_grid(f"steps={values}", f"guidance={values}")


def test_cells_are_row_major_with_labels_and_shared_seed() -> None:
    grid = parse_grid("sampler=DDIM,Euler,UniPC", "steps=4,8")
    cells = grid.cells(TEACHER, BASE.with_(batch_size=3))
    assert (grid.columns, grid.rows, len(cells)) == (3, 2, 6)
    assert [(c.x, c.y) for c in cells[:4]] == [(0, 0), (1, 0), (2, 0), (0, 1)]
    assert cells[4].params.sampler == "Euler" and cells[4].params.num_inference_steps == 8
    assert cells[4].label == "Euler · 8 steps"
    assert {c.params.seed for c in cells} == {42}
    assert {c.params.batch_size for c in cells} == {1}


def test_skip_axes_set_the_skip_tuning_field() -> None:
    grid = parse_grid("skip_top=1,0.9", "skip_bottom=1,0.8")
    cell = grid.cells(TEACHER, BASE)[3]
    assert cell.params.skip_tuning == SkipTuning(rho_top=0.9, rho_bottom=0.8)
    assert cell.label == "skip top 0.9 · skip bottom 0.8"


def test_lane_axis_swaps_model_and_recipe_but_keeps_shared_values() -> None:
    student = ModelRef.embedded("emoji-student-4step")
    recipe = GenerationParams(prompt="other", seed=1, sampler="DDIM trailing", guidance_scale=1)
    lanes = Axis(
        name=AxisName.lane,
        values=(
            LaneChoice(name="Teacher", model=TEACHER, params=BASE),
            LaneChoice(name="Student", model=student, params=recipe),
        ),
    )
    grid = GridSpec(x=parse_axis("steps=2,4"), y=lanes)
    cell = grid.cells(TEACHER, BASE)[3]
    assert cell.model == student and cell.label == "Student · 4 steps"
    assert (cell.params.sampler, cell.params.num_inference_steps) == ("DDIM trailing", 4)
    assert (cell.params.prompt, cell.params.seed) == ("cat", 42)
    model_axis = parse_axis("model=emoji-teacher")
    assert "both choose the model" in GridSpec(x=model_axis, y=lanes).problems()[0]


def test_grid_job_reports_cell_problems_by_label() -> None:
    job = GridJob(
        base=LaneSpec(model=TEACHER, params=BASE),
        grid=GridSpec(x=parse_axis("sampler=DDIM,Euler")),
    )
    assert job_problems(job) == []
    assert len(job.cells()) == 2
    bad = GridJob(
        base=LaneSpec(model=TEACHER, params=BASE.with_(width=33)),
        grid=GridSpec(x=parse_axis("sampler=DDIM,Euler")),
    )
    found = job_problems(bad)
    assert len(found) == 1 and "multiple of 8" in found[0]


def test_dispatch_order_keeps_models_together_and_hands_out_the_longest_cells_first() -> None:
    student = ModelRef.embedded("emoji-student-4step")
    grid = parse_grid("steps=4,16,8", "model=emoji-teacher,emoji-student-4step")
    cells = grid.cells(TEACHER, BASE)
    order = dispatch_order(cells)
    assert sorted(order, key=lambda c: (c.y, c.x)) == sorted(cells, key=lambda c: (c.y, c.x))
    assert [c.model for c in order] == [TEACHER] * 3 + [student] * 3
    assert [c.params.num_inference_steps for c in order] == [16, 8, 4, 16, 8, 4]
    assert [c.label for c in run_order(cells)][:3] == [c.label for c in cells[:3]]


def test_work_estimate_counts_guidance_passes_and_pixels() -> None:
    grid = parse_grid("guidance=1,3", "steps=10,20")
    one, three, _, three_twenty = (work_estimate(c) for c in grid.cells(TEACHER, BASE))
    assert three == 2 * one and three_twenty == 2 * three
    wide = grid.cells(TEACHER, BASE.with_(width=64))[0]
    assert work_estimate(wide) == 2 * one
