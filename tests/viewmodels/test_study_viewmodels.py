"""The grid and convergence view-models: building jobs, following events, CSV files."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.core.grid import AxisName
from studio.core.jobs import ConvergeJob, GridJob
from studio.core.params import ValidationError
from studio.viewmodels.session import SessionViewModel
from studio.viewmodels.submission import job_summary
from tests.viewmodels.fake_engine import FakeEngine


def test_choosing_an_axis_fills_in_example_values(session: SessionViewModel) -> None:
    grid = session.grid
    grid.x_axis = "guidance"
    assert grid.x_values == "1, 2, 3, 5"
    grid.y_axis = "none"
    job = grid.build()
    assert job.grid.y is None and job.grid.columns == 4


def test_lane_axis_uses_the_teacher_and_student_recipes(session: SessionViewModel) -> None:
    session.student_model = "emoji-student-4step"
    session.student.num_inference_steps = 4
    grid = session.grid
    grid.x_axis, grid.y_axis = "lane", "guidance"
    job = grid.build()
    lane_axis = job.grid.x
    assert lane_axis.name is AxisName.lane
    assert [choice.name for choice in lane_axis.values] == ["Teacher", "Student"]
    student_cells = [c for c in job.cells() if c.x == 1]
    assert {c.model.display_name for c in student_cells} == {"emoji-student-4step"}
    assert {c.params.num_inference_steps for c in student_cells} == {4}
    assert job_summary(job).startswith("Grid 2x4 · seed")


def test_grid_errors_are_sentences(session: SessionViewModel) -> None:
    grid = session.grid
    grid.x_axis, grid.y_axis = "steps", "steps"
    with pytest.raises(ValidationError, match="both vary steps"):
        grid.build()
    session.teacher_model = "./nowhere"
    with pytest.raises(ValidationError, match="no model folder"):
        grid.build()


def test_run_submits_through_the_session(session: SessionViewModel, engine: FakeEngine) -> None:
    job_id = session.grid.run()
    assert job_id and isinstance(engine.jobs[0], GridJob) and session.busy
    engine.pump(session.handle)
    assert not session.busy and session.grid.progress.status == "Done"
    assert len(session.grid.cells) == session.grid.grid.size


def test_convergence_job_and_summary(session: SessionViewModel, engine: FakeEngine) -> None:
    conv = session.convergence
    conv.samplers, conv.steps, conv.cases = "DDIM, Euler", "4, 2", 1
    job = conv.build()
    assert isinstance(job, ConvergeJob)
    assert job.spec.samplers == ("DDIM", "Euler") and job.spec.steps == (2, 4)
    assert job.spec.seeds == (session.seed,)
    conv.run()
    engine.pump(session.handle)
    assert len(conv.points) == 4 and conv.progress.status == "Done"
    assert conv.summary(20.0).startswith("Fewest evaluations to 20 dB: Euler 4")


def test_bad_csv_is_an_error_not_a_crash(session: SessionViewModel, tmp_path: Path) -> None:
    errors = []
    session.convergence.error.connect(errors.append)
    bad = tmp_path / "bad.csv"
    bad.write_text("sampler,steps\nDDIM,two\n")
    assert not session.convergence.load_csv(bad)
    assert "bad.csv" in errors[0]


def test_convergence_draws_the_student_lane_beside_the_samplers(session: SessionViewModel) -> None:
    conv = session.convergence
    conv.samplers, conv.steps, conv.cases = "UniPC", "2, 4", 1
    assert conv.build().spec.students == ()
    session.student_model = "emoji-shortcut"
    session.student.sampler, session.student.guidance_scale = "DDIM trailing", 1.0
    conv.with_student = True
    (student,) = conv.build().spec.students
    assert (student.model.display_name, student.sampler, student.guidance) == (
        "emoji-shortcut",
        "DDIM trailing",
        1.0,
    )
    estimate = conv.estimate()
    assert estimate is not None and estimate.runs == 1 + 2 + 2 and estimate.upper_bound
    assert estimate.runs_text().endswith("× 1 case, and 1 student beside them")
    session.student_model = "./nowhere"
    with pytest.raises(ValidationError, match="The student lane"):
        conv.build()
