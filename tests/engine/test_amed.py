"""The AMED solver on tiny real pipelines: its plan spends exactly the NFE asked, it refuses to
run blind, its predictor trains (gradients reach the predictor only, the UNet stays bit-unchanged),
the cache is keyed by the weights, and the runner trains on first use with progress."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch

from studio.core.events import LaneFinished, PrepareProgress
from studio.core.jobs import GenerateJob, LaneSpec, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams, ValidationError, validate
from studio.engine.amed.fit import TRAINING_TASK, FitOptions, fit_predictor
from studio.engine.amed.plan import (
    StepKind,
    check_nfe,
    make_plan,
    mid_sigma,
    sigma_table,
    timestep_of,
)
from studio.engine.amed.predictor import AmedPredictor
from studio.engine.amed.scheduler import AmedScheduler, MissingPredictor, solver_hooks
from studio.engine.amed.store import AmedPredictors
from studio.engine.cancel import CancelToken
from studio.engine.loading import load_pipeline
from studio.engine.model_cache import ModelCache
from studio.engine.runner import Runner
from studio.engine.samplers import make_scheduler
from tests.engine.test_analytic_tables import Collector
from tests.engine.tiny import save_tiny_emoji_pipeline

TINY = FitOptions(samples=2, batch_size=2, substeps=2, epochs=1)


@pytest.mark.parametrize("nfe", [3, 4, 5, 6, 8, 9])
def test_plan_spends_exactly_the_nfe_asked(tiny_emoji_pipe, nfe):
    scheduler = make_scheduler(tiny_emoji_pipe.scheduler.config, "AMED")
    plan = make_plan(scheduler.alphas_cumprod, nfe)
    assert len(plan.slots) == nfe
    assert plan.kinds[0] is StepKind.ddim
    assert plan.kinds.count(StepKind.amed) == (nfe - 1) // 2
    assert plan.timesteps[0] == len(scheduler.alphas_cumprod) - 1 and plan.timesteps[-1] == -1
    assert plan.sigmas[-1] == 0.0 and list(plan.timesteps) == sorted(plan.timesteps, reverse=True)


def test_fewer_than_three_evaluations_are_refused_before_the_engine():
    with pytest.raises(ValueError, match="at least 3"):
        check_nfe(2)
    with pytest.raises(ValidationError, match="AMED needs at least 3 steps"):
        validate(GenerationParams(prompt="x", sampler="AMED", num_inference_steps=2))


def test_timestep_of_inverts_the_sigma_table(tiny_emoji_pipe):
    scheduler = make_scheduler(tiny_emoji_pipe.scheduler.config, "AMED")
    table = sigma_table(scheduler.alphas_cumprod)
    picks = torch.tensor([float(table[10]), float(table[500]), float(table[900])])
    assert torch.allclose(timestep_of(picks, table), torch.tensor([10.0, 500.0, 900.0]), atol=1e-3)


def test_the_last_step_to_clean_does_not_collapse_the_midpoint():
    r = torch.tensor([0.25, 0.75])
    assert torch.allclose(mid_sigma(r, 2.0, 0.0), torch.tensor([0.5, 1.5]))
    geometric = mid_sigma(r, 4.0, 1.0)
    assert torch.allclose(geometric, torch.tensor([4.0**0.25, 4.0**0.75]))


def test_an_amed_step_without_hooks_or_predictor_is_refused(tiny_emoji_pipe):
    pipe = tiny_emoji_pipe
    pipe.scheduler = make_scheduler(pipe.scheduler.config, "AMED")
    hooks = solver_hooks(pipe.scheduler, pipe.unet)
    with pytest.raises(MissingPredictor, match="no predictor for 5"), hooks:
        pipe("a cube", num_inference_steps=5, output_type="np")
    pipe.scheduler.use_predictor(5, AmedPredictor(pipe.unet.mid_block.resnets[-1].out_channels))
    with pytest.raises(MissingPredictor, match="hooks"):
        pipe("a cube", num_inference_steps=5, output_type="np")


def test_sampling_calls_the_model_nfe_times_at_per_sample_midpoints(tiny_emoji_pipe):
    pipe = tiny_emoji_pipe
    scheduler = make_scheduler(pipe.scheduler.config, "AMED")
    scheduler.use_predictor(5, AmedPredictor(pipe.unet.mid_block.resnets[-1].out_channels))
    pipe.scheduler = scheduler
    seen: list[torch.Tensor] = []
    counter = pipe.unet.register_forward_pre_hook(lambda m, a: seen.append(a[1].clone()))
    try:
        with solver_hooks(scheduler, pipe.unet):
            images = pipe(["a", "b"], num_inference_steps=5, guidance_scale=2.0, output_type="np")
    finally:
        counter.remove()
    assert len(seen) == 5 and np.isfinite(images.images).all()
    # Hooks run in registration order, so the counter saw the pipeline's own placeholder
    # times; the scheduler's pending times are gone after the last second evaluation.
    assert scheduler.pending_timesteps is None and not scheduler.hooked


def test_fit_moves_only_the_predictor_and_lowers_the_loss(tiny_emoji_pipe):
    pipe = tiny_emoji_pipe
    before = {k: v.clone() for k, v in pipe.unet.state_dict().items()}
    result = fit_predictor(
        pipe,
        dict(pipe.scheduler.config),
        5,
        FitOptions(samples=4, batch_size=2, substeps=2, epochs=6, lr=2e-2),
        None,
        lambda *a: None,
    )
    after = pipe.unet.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in pipe.unet.parameters())
    assert math.isfinite(result.loss_before) and result.loss_after < result.loss_before
    trained = result.predictor.fc_r.weight.abs().sum() + result.predictor.fc_c.weight.abs().sum()
    assert trained > 0
    assert all(0.0 < r < 1.0 for r in result.mean_r)
    assert all(0.99 <= c <= 1.01 for c in result.mean_c)


def test_predictor_starts_at_the_geometric_midpoint():
    r, c = AmedPredictor(8)(torch.randn(3, 8), 999, 500)
    assert torch.allclose(r, torch.full((3,), 0.5)) and torch.allclose(c, torch.ones(3))


@pytest.fixture
def emoji_ref(tmp_path) -> ModelRef:
    folder = save_tiny_emoji_pipeline(tmp_path / "tiny-emoji")
    return ModelRef(location=str(folder), source=ModelSource.folder)


def test_cache_is_reused_and_invalidated_by_a_weights_change(tmp_path, emoji_ref):
    predictors = AmedPredictors(cache_dir=tmp_path / "amed", options=TINY, dataset=tmp_path / "no")
    loaded = load_pipeline(emoji_ref, device="cpu")
    tasks: list[str] = []
    first = predictors.stored_for(loaded, 3, lambda task, *_: tasks.append(task))
    assert tasks and predictors.path_for(loaded, 3).is_file()
    tasks.clear()
    fresh = AmedPredictors(cache_dir=tmp_path / "amed", options=TINY, dataset=tmp_path / "no")
    again = fresh.stored_for(
        load_pipeline(emoji_ref, device="cpu"), 3, lambda t, *_: tasks.append(t)
    )
    assert not tasks and again.info["key"] == first.info["key"]

    changed = tmp_path / "changed"
    shutil.copytree(emoji_ref.location, changed)
    other = load_pipeline(ModelRef(location=str(changed), source=ModelSource.folder), device="cpu")
    with torch.no_grad():
        next(other.pipe.unet.parameters()).add_(0.01)
    assert fresh.key_for(other, 3) != fresh.key_for(loaded, 3)
    fresh.stored_for(other, 3, lambda t, *_: tasks.append(t))
    assert TRAINING_TASK in tasks


def test_a_foreign_or_broken_file_is_a_miss(tmp_path, emoji_ref):
    predictors = AmedPredictors(cache_dir=tmp_path / "amed", options=TINY, dataset=tmp_path / "no")
    loaded = load_pipeline(emoji_ref, device="cpu")
    predictors.stored_for(loaded, 3)
    path = predictors.path_for(loaded, 3)
    path.write_bytes(b"not safetensors")
    tasks: list[str] = []
    fresh = AmedPredictors(cache_dir=tmp_path / "amed", options=TINY, dataset=tmp_path / "no")
    fresh.stored_for(loaded, 3, lambda t, *_: tasks.append(t))
    assert TRAINING_TASK in tasks and path.stat().st_size > 100


def test_runner_trains_on_first_use_with_progress_and_counts_nfe(tmp_path, emoji_ref):
    predictors = AmedPredictors(cache_dir=tmp_path / "amed", options=TINY, dataset=tmp_path / "no")
    runner = Runner(ModelCache(), amed_predictors=predictors)
    params = GenerationParams(
        prompt="a cube", sampler="AMED", num_inference_steps=4, width=32, height=32, seed=1
    )
    sink = Collector()
    job = GenerateJob(lane=LaneSpec(model=emoji_ref, params=params), previews=PreviewOptions())
    runner.run(job, CancelToken(), sink)
    tasks = {e.task for e in sink.of(PrepareProgress)}
    assert TRAINING_TASK in tasks
    finished = sink.of(LaneFinished)[0]
    assert finished.steps == 4 and np.isfinite(finished.images[0]).all()
    sink2 = Collector()
    runner.run(job, CancelToken(), sink2)
    assert not sink2.of(PrepareProgress)


def test_amed_fits_every_vp_model_config(tiny_sd_pipe, tiny_emoji_pipe):
    for pipe in (tiny_sd_pipe, tiny_emoji_pipe):
        assert isinstance(make_scheduler(pipe.scheduler.config, "AMED"), AmedScheduler)


def test_fit_runs_on_stable_diffusion_too(tiny_sd_pipe):
    result = fit_predictor(
        tiny_sd_pipe, dict(tiny_sd_pipe.scheduler.config), 3, TINY, None, lambda *a: None
    )
    assert math.isfinite(result.loss_after) and result.guidance == 7.5
