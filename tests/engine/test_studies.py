"""Grid and convergence jobs on a tiny emoji pipeline: shared noise, streaming, NFE, cancel."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from studio.core.convergence import PSNR_CAP_DB, ConvergenceSpec
from studio.core.events import (
    ConvergencePointReady,
    GridCellFinished,
    JobProgress,
    LaneFinished,
    PreviewReady,
    StepProgress,
)
from studio.core.grid import parse_grid, run_order
from studio.core.jobs import ConvergeJob, GenerateJob, GridJob, LaneSpec, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams, ValidationError
from studio.engine.cancel import Cancelled, CancelToken
from studio.engine.model_cache import ModelCache
from studio.engine.runner import Runner
from tests.engine.test_runner import Collector
from tests.engine.tiny import save_tiny_emoji_pipeline

BASE = GenerationParams(
    prompt="grinning face", guidance_scale=2.0, seed=11, width=32, height=32, num_inference_steps=2
)


@pytest.fixture(scope="module")
def emoji_ref(tmp_path_factory) -> ModelRef:
    folder = save_tiny_emoji_pipeline(tmp_path_factory.mktemp("studies") / "tiny-emoji")
    return ModelRef(location=str(folder), source=ModelSource.folder)


class ConstantJudge:
    """Names every image class 3, and remembers how many images it judged."""

    def __init__(self) -> None:
        self.judged = 0

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.judged += len(images)
        return np.full(len(images), 3)


@pytest.fixture(scope="module")
def runner() -> Runner:
    return Runner(ModelCache(capacity=2), judge=ConstantJudge())


def grid_job(ref: ModelRef, x: str, y: str | None = None) -> GridJob:
    return GridJob(base=LaneSpec(model=ref, params=BASE), grid=parse_grid(x, y))


def test_cells_stream_in_order_from_the_noise_a_single_run_uses(runner, emoji_ref) -> None:
    sink = Collector()
    job = grid_job(emoji_ref, "sampler=DDIM trailing,Euler", "steps=2,3")
    outcome = runner.run(job, CancelToken(), sink)
    cells = sink.of(GridCellFinished)
    assert [(c.x, c.y) for c in cells] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    assert [p.done for p in sink.of(JobProgress)] == [0, 1, 2, 3]
    assert sink.of(LaneFinished) == [] and not outcome.stopped
    assert cells[3].label == "Euler · 3 steps" and cells[3].wall_s > 0
    assert all(c.image is not None and c.image.shape == (32, 32, 3) for c in cells)
    single = Collector()
    params = BASE.with_(sampler="Euler", num_inference_steps=3)
    runner.run(GenerateJob(lane=LaneSpec(model=emoji_ref, params=params)), CancelToken(), single)
    np.testing.assert_array_equal(cells[3].image, single.of(LaneFinished)[0].images[0])


def test_each_cells_steps_and_previews_carry_its_coordinate_and_timings(runner, emoji_ref):
    sink = Collector()
    job = replace(grid_job(emoji_ref, "steps=2,3"), previews=PreviewOptions(every=1))
    runner.run(job, CancelToken(), sink)
    previews = sink.of(PreviewReady)
    assert [(p.cell, p.step) for p in previews] == [((0, 0), 1), ((0, 0), 2), ((1, 0), 1),
                                                    ((1, 0), 2), ((1, 0), 3)]  # fmt: skip
    assert {s.cell for s in sink.of(StepProgress)} == {(0, 0), (1, 0)}
    cells = sink.of(GridCellFinished)
    assert [len(c.timings.step_s) for c in cells] == [2, 3]
    assert all(c.timings.total_s == c.wall_s > 0 for c in cells)


def test_model_evaluations_are_counted_per_call(runner, tiny_sd_folder) -> None:
    """On the tiny SD model: the zero-SNR emoji models refuse DPM2, the two-evaluation sampler."""
    sd = ModelRef(location=str(tiny_sd_folder), source=ModelSource.folder)
    sink = Collector()
    runner.run(grid_job(sd, "sampler=DDIM,DPM2,PNDM", "steps=4"), CancelToken(), sink)
    nfe = {c.params.sampler: c.nfe for c in sink.of(GridCellFinished)}
    assert nfe["DDIM"] == 4
    assert nfe["DPM2"] == 7, "DPM2 evaluates twice per step but once on its last"
    assert nfe["PNDM"] == 5, "PLMS takes one extra evaluation to start"


def test_a_cell_whose_sampler_misfits_says_why_and_the_grid_goes_on(runner, emoji_ref) -> None:
    sink = Collector()
    runner.run(grid_job(emoji_ref, "sampler=Heun,DDIM"), CancelToken(), sink)
    heun, ddim = sink.of(GridCellFinished)
    assert heun.image is None and "zero-terminal-SNR" in heun.error
    assert ddim.image is not None and ddim.error == ""


def test_cancel_between_cells_and_stop_and_keep(runner, emoji_ref) -> None:
    token = CancelToken()
    sink = Collector()
    sink.emit = _cancel_after_first_cell(sink, token, keep=False)
    with pytest.raises(Cancelled):
        runner.run(grid_job(emoji_ref, "steps=2,3,4"), token, sink)
    assert len(sink.of(GridCellFinished)) == 1
    token = CancelToken()
    sink = Collector()
    sink.emit = _cancel_after_first_cell(sink, token, keep=True)
    outcome = runner.run(grid_job(emoji_ref, "steps=2,3,4"), token, sink)
    assert outcome.stopped and len(sink.of(GridCellFinished)) == 1


def _cancel_after_first_cell(sink: Collector, token: CancelToken, keep: bool):
    emit = sink.emit

    def cancelling(event) -> None:
        emit(event)
        if isinstance(event, GridCellFinished):
            token.cancel(keep_partial=keep)

    return cancelling


def test_cancel_during_a_cell_stops_at_the_next_step(runner, emoji_ref) -> None:
    token = CancelToken()
    sink = Collector(on_step=lambda event: token.cancel())
    with pytest.raises(Cancelled):
        runner.run(grid_job(emoji_ref, "steps=5,6"), token, sink)
    assert len(sink.of(StepProgress)) == 1 and sink.of(GridCellFinished) == []


def test_cells_run_grouped_by_model(emoji_ref) -> None:
    other = ModelRef.embedded("emoji-student-4step")
    grid = parse_grid("model=emoji-teacher,emoji-student-4step", "steps=2,3")
    cells = grid.cells(emoji_ref, BASE)
    ordered = run_order(cells)
    assert [c.model.display_name for c in ordered] == ["emoji-teacher"] * 2 + [other.label] * 2


def test_convergence_points_against_a_reference_from_the_same_noise(runner, emoji_ref) -> None:
    spec = ConvergenceSpec(
        samplers=("DDIM trailing", "Euler"),
        steps=(1, 3),
        reference_sampler="DDIM trailing",
        reference_steps=3,
        seeds=(1, 2),
    )
    sink = Collector()
    job = ConvergeJob(base=LaneSpec(model=emoji_ref, params=BASE), spec=spec)
    outcome = runner.run(job, CancelToken(), sink)
    points = [e.point for e in sink.of(ConvergencePointReady)]
    assert [(p.sampler, p.steps) for p in points] == [
        ("DDIM trailing", 1),
        ("DDIM trailing", 3),
        ("Euler", 1),
        ("Euler", 3),
    ]
    same = points[1]
    assert same.psnr == PSNR_CAP_DB, "the same recipe from the same noise is the reference"
    assert points[0].psnr < PSNR_CAP_DB
    assert all(p.cases == 2 and p.agreement == 1.0 for p in points)
    assert same.nfe == 3 and same.network_passes == 6
    progress = sink.of(JobProgress)
    assert progress[0].total == 2 * (1 + 2 * 2) and "reference 1/2" in progress[0].label
    assert not outcome.stopped


def test_convergence_refuses_stochastic_samplers(runner, emoji_ref) -> None:
    job = ConvergeJob(
        base=LaneSpec(model=emoji_ref, params=BASE), spec=ConvergenceSpec(samplers=("Euler a",))
    )
    with pytest.raises(ValidationError, match="adds noise"):
        runner.run(job, CancelToken(), Collector())


def test_convergence_previews_stay_off_by_default(emoji_ref) -> None:
    job = ConvergeJob(base=LaneSpec(model=emoji_ref, params=BASE))
    assert job.previews == PreviewOptions(every=0)


def test_convergence_leaves_out_step_counts_a_sampler_cannot_take(emoji_ref, tmp_path) -> None:
    from studio.engine.amed.fit import FitOptions
    from studio.engine.amed.store import AmedPredictors

    tiny = FitOptions(samples=2, batch_size=2, substeps=1, epochs=1)
    predictors = AmedPredictors(cache_dir=tmp_path, options=tiny, dataset=tmp_path / "none")
    local = Runner(ModelCache(), amed_predictors=predictors)
    spec = ConvergenceSpec(
        samplers=("AMED", "Euler"),
        steps=(2, 3),
        reference_sampler="DDIM trailing",
        reference_steps=3,
        seeds=(1,),
    )
    sink = Collector()
    local.run(
        ConvergeJob(base=LaneSpec(model=emoji_ref, params=BASE), spec=spec), CancelToken(), sink
    )
    points = [(e.point.sampler, e.point.steps, e.point.nfe) for e in sink.of(ConvergencePointReady)]
    assert points == [("AMED", 3, 3), ("Euler", 2, 2), ("Euler", 3, 3)]
    assert sink.of(JobProgress)[0].total == 1 + 3


def test_a_student_curve_runs_beside_the_samplers_against_the_same_references(
    runner, emoji_ref, tmp_path
) -> None:
    from studio.core.convergence import StudentCurve
    from studio.engine.shortcut_model import shortcut_unet_from
    from studio.lab.export import export_pipeline
    from tests.engine.tiny import build_tiny_emoji_pipeline

    # A shortcut model made from the same tiny teacher: at init it is the teacher at every
    # step size, so its DDIM trailing points must equal the teacher's own.
    unet = shortcut_unet_from(build_tiny_emoji_pipeline(0).unet)
    folder = export_pipeline(unet, tmp_path / "tiny-shortcut")
    student = StudentCurve(
        model=ModelRef(location=str(folder), label="tiny-shortcut"),
        sampler="DDIM trailing",
        guidance=BASE.guidance_scale,
    )
    spec = ConvergenceSpec(
        samplers=("DDIM trailing",),
        steps=(1, 2, 3),
        reference_sampler="Euler",
        reference_steps=4,
        seeds=(1, 2),
        students=(student,),
    )
    sink = Collector()
    runner.run(
        ConvergeJob(base=LaneSpec(model=emoji_ref, params=BASE), spec=spec), CancelToken(), sink
    )
    points = [e.point for e in sink.of(ConvergencePointReady)]
    assert [(p.series, p.steps) for p in points] == [
        ("DDIM trailing", 1),
        ("DDIM trailing", 2),
        ("DDIM trailing", 3),
        ("tiny-shortcut · DDIM trailing", 1),
        ("tiny-shortcut · DDIM trailing", 2),
    ], "a shortcut model runs only the step counts it learned (powers of two)"
    teacher, shortcut = points[:2], points[3:]
    for mine, theirs in zip(shortcut, teacher, strict=True):
        assert mine.model == "tiny-shortcut" and theirs.model == ""
        assert mine.psnr == pytest.approx(theirs.psnr, rel=1e-6)
        assert mine.agreement == 1.0 and mine.network_passes == 2 * mine.nfe
    progress = sink.of(JobProgress)
    assert progress[0].total == 2 * (1 + 3 + 2), "the step count it cannot take is not counted"
    assert progress[-1].label.startswith("tiny-shortcut, DDIM trailing")


def test_a_student_whose_sampler_misfits_is_refused_before_the_references(
    runner, emoji_ref, tmp_path
) -> None:
    from studio.core.convergence import StudentCurve
    from studio.engine.samplers import SamplerError
    from studio.engine.shortcut_model import shortcut_unet_from
    from studio.lab.export import export_pipeline
    from tests.engine.tiny import build_tiny_emoji_pipeline

    folder = export_pipeline(
        shortcut_unet_from(build_tiny_emoji_pipeline(0).unet), tmp_path / "tiny-shortcut"
    )
    student = StudentCurve(model=ModelRef(location=str(folder)), sampler="Euler")
    spec = ConvergenceSpec(samplers=("DDIM trailing",), steps=(1, 2), students=(student,))
    sink = Collector()
    job = ConvergeJob(base=LaneSpec(model=emoji_ref, params=BASE), spec=spec)
    with pytest.raises(SamplerError, match="shortcut model"):
        runner.run(job, CancelToken(), sink)
    assert not sink.of(JobProgress), "refused before any reference was made"


def test_a_shortcut_model_as_the_job_model_runs_only_its_sampler_and_step_counts(
    runner, tmp_path
) -> None:
    from studio.engine.samplers import SamplerError
    from studio.engine.shortcut_model import shortcut_unet_from
    from studio.lab.export import export_pipeline
    from tests.engine.tiny import build_tiny_emoji_pipeline

    folder = export_pipeline(
        shortcut_unet_from(build_tiny_emoji_pipeline(0).unet), tmp_path / "tiny-shortcut"
    )
    base = LaneSpec(model=ModelRef(location=str(folder)), params=BASE)
    spec = ConvergenceSpec(steps=(1, 2, 3), reference_sampler="DDIM trailing", reference_steps=4)
    sink = Collector()
    runner.run(ConvergeJob(base=base, spec=spec), CancelToken(), sink)
    points = [(e.point.sampler, e.point.steps) for e in sink.of(ConvergencePointReady)]
    assert points == [("DDIM trailing", 1), ("DDIM trailing", 2)], "every sampler that fits"
    euler = ConvergeJob(base=base, spec=replace(spec, samplers=("Euler",)))
    refused = Collector()
    with pytest.raises(SamplerError, match="shortcut model"):
        runner.run(euler, CancelToken(), refused)
    assert not refused.of(JobProgress), "refused before the references"
