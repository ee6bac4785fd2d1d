"""The AMED-Plugin on DPM-Solver++ 2M: on a Gaussian toy whose exact x0-prediction and ODE
solution are known it converges, at the neutral r = 1/2, c = 1 it is DPM-Solver++ 2M on the grid
with the geometric midpoints, it spends exactly the NFE asked through a pipeline and the runner,
it trains, its fit picks the grid power per NFE that sampling then uses, and its cache is its
own, keyed by the weights."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import save

from studio.core.events import LaneFinished
from studio.core.jobs import GenerateJob, LaneSpec, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams, ValidationError, validate
from studio.engine.amed.fit import GRID_TASK, TRAINING_TASK, FitOptions, fit_predictor
from studio.engine.amed.plan import (
    AmedPlan,
    StepKind,
    Variant,
    make_plan,
    mid_sigma,
    step_kinds,
)
from studio.engine.amed.predictor import AmedPredictor
from studio.engine.amed.rules import MultistepRule
from studio.engine.amed.scheduler import AmedPluginScheduler, solver_hooks
from studio.engine.amed.store import AmedPredictors, load_predictor
from studio.engine.cancel import CancelToken
from studio.engine.loading import load_pipeline
from studio.engine.model_cache import ModelCache
from studio.engine.runner import Runner
from studio.engine.samplers import make_scheduler
from tests.engine.test_analytic_tables import Collector
from tests.engine.tiny import save_tiny_emoji_pipeline

TINY = FitOptions(samples=2, batch_size=2, substeps=2, epochs=1)
MEAN, SPREAD = 0.3, 0.5


def toy_denoiser(x: torch.Tensor, sigma: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    """(eps, x0) of the exact x0-prediction for data N(MEAN, SPREAD^2), x = a x0 + s eps."""
    if isinstance(sigma, float) and math.isinf(sigma):
        return x, torch.full_like(x, MEAN)
    sigma = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
    y = x * torch.sqrt(1 + sigma**2)
    x0 = MEAN + SPREAD**2 / (SPREAD**2 + sigma**2) * (y - MEAN)
    return (y - x0) / sigma, x0


def exact_clean(noise: torch.Tensor, sigma: float) -> torch.Tensor:
    """The ODE's end from x = noise at `sigma`: y moves as MEAN + (y - MEAN) sqrt(SPREAD^2 +
    sigma^2) / sqrt(SPREAD^2 + sigma_0^2)."""
    if math.isinf(sigma):
        return MEAN + SPREAD * noise
    y = noise * math.sqrt(1 + sigma**2)
    return MEAN + (y - MEAN) * SPREAD / math.sqrt(SPREAD**2 + sigma**2)


def walk(plan: AmedPlan, noise: torch.Tensor, r: float = 0.5) -> tuple[torch.Tensor, list]:
    """The plugin's result on the toy with a fixed r and c = 1, and the sigmas it evaluated."""
    rule, x, seen = MultistepRule(plan), noise, []
    ones = torch.ones(len(x))
    for i, kind in enumerate(plan.kinds):
        sigma, sigma_next = plan.sigmas[i], plan.sigmas[i + 1]
        eps, x0 = toy_denoiser(x, sigma)
        seen.append(sigma)
        if kind is StepKind.ddim:
            x = rule.plain(x, eps, x0, i)
            continue
        mid = mid_sigma(torch.full((len(x),), r), sigma, sigma_next)
        x_mid = rule.to_mid(x, eps, x0, i, mid)
        eps_mid, x0_mid = toy_denoiser(x_mid, mid)
        seen.append(float(mid[0]))
        x = rule.land(x, x_mid, eps_mid, x0_mid, i, mid, ones)
    return x, seen


def dpm_2m_vp(noise: torch.Tensor, sigmas: list[float]) -> torch.Tensor:
    """DPM-Solver++ 2M written in VP form (x = alpha x0 + sigma_vp eps, lambda = -log sigma),
    first order after the infinite sigma and on the last step, on the evaluation points."""
    x, prev = noise, (math.inf, noise)
    for k, sigma in enumerate(sigmas):
        eps, x0 = toy_denoiser(x, sigma)
        after = sigmas[k + 1] if k + 1 < len(sigmas) else 0.0
        alpha_t, sigma_vp_t = 1 / math.sqrt(1 + after**2), after / math.sqrt(1 + after**2)
        if math.isinf(sigma):
            x = alpha_t * x0 + sigma_vp_t * eps
        elif after == 0.0:
            x = x0
        else:
            h = math.log(sigma / after)
            direction = x0
            if math.isfinite(prev[0]):
                direction = x0 + (x0 - prev[1]) * h / (2 * math.log(prev[0] / sigma))
            sigma_vp = sigma / math.sqrt(1 + sigma**2)
            x = sigma_vp_t / sigma_vp * x - alpha_t * math.expm1(-h) * direction
        prev = (sigma, x0)
    return x


@pytest.fixture
def alphas(tiny_emoji_pipe) -> torch.Tensor:
    return make_scheduler(tiny_emoji_pipe.scheduler.config, "AMED-Plugin").alphas_cumprod


@pytest.mark.parametrize("nfe", [3, 4, 5, 6, 8])
def test_plugin_plan_learns_only_its_last_interval_and_spends_the_nfe_asked(alphas, nfe):
    plan = make_plan(alphas, nfe, Variant.plugin)
    assert len(plan.slots) == nfe and plan.amed_intervals == (nfe - 2,)
    assert plan.sigmas[-1] == 0.0 and plan.timesteps[0] == len(alphas) - 1
    assert plan.timesteps[1] > make_plan(alphas, nfe).timesteps[1]


def geometric_plan(nfe: int) -> AmedPlan:
    """A plugin plan from sigma 80 down to 0.002 (geometric), then 0: dense enough at the clean
    end for its last, first-order step to vanish as the NFE grows."""
    kinds = step_kinds(nfe, Variant.plugin)
    sigmas = (*np.geomspace(80.0, 0.002, len(kinds)).tolist(), 0.0)
    timesteps = tuple(range(len(kinds), -2, -1))
    return AmedPlan(nfe, timesteps, sigmas, kinds, Variant.plugin)


def test_plugin_converges_to_the_exact_solution_of_the_toy():
    noise = torch.randn(4, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    errors = []
    for nfe in (5, 9, 17, 33, 65):
        plan = geometric_plan(nfe)
        x, _ = walk(plan, noise)
        errors.append(float((x - exact_clean(noise, plan.sigmas[0])).abs().max()))
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 3e-3 and errors[-2] / errors[-1] > 3.0  # second order: about 4


def test_at_neutral_r_and_c_the_plugin_is_dpm_solver_2m_on_the_refined_grid(alphas):
    noise = torch.randn(3, 3, 2, 2, generator=torch.Generator().manual_seed(1))
    for nfe in (4, 5, 8):
        x, seen = walk(make_plan(alphas, nfe, Variant.plugin), noise)
        assert len(seen) == nfe
        assert torch.allclose(x, dpm_2m_vp(noise, seen), atol=1e-5)


def test_the_scale_c_stretches_only_the_landing_step(alphas):
    plan = make_plan(alphas, 3, Variant.plugin)
    noise = torch.randn(2, 3, 2, 2, generator=torch.Generator().manual_seed(2))
    rule = MultistepRule(plan)
    eps, x0 = toy_denoiser(noise, plan.sigmas[0])
    x = rule.plain(noise, eps, x0, 0)
    eps, x0 = toy_denoiser(x, plan.sigmas[1])
    mid = mid_sigma(torch.full((2,), 0.5), plan.sigmas[1], plan.sigmas[2])
    x_mid = rule.to_mid(x, eps, x0, 1, mid)
    eps_mid, x0_mid = toy_denoiser(x_mid, mid)
    landed = rule.land(x, x_mid, eps_mid, x0_mid, 1, mid, torch.tensor([1.0, 1.01]))
    # The last step ends at sigma 0, where the plugin lands on c times the x0-prediction.
    assert torch.allclose(landed[0], x0_mid[0]) and torch.allclose(landed[1], 1.01 * x0_mid[1])


def test_the_catalogue_refuses_fewer_than_three_evaluations():
    with pytest.raises(ValidationError, match="AMED-Plugin needs at least 3 steps"):
        validate(GenerationParams(prompt="x", sampler="AMED-Plugin", num_inference_steps=2))


def test_a_pipeline_calls_the_model_exactly_nfe_times(tiny_emoji_pipe):
    pipe = tiny_emoji_pipe
    scheduler = make_scheduler(pipe.scheduler.config, "AMED-Plugin")
    assert isinstance(scheduler, AmedPluginScheduler)
    scheduler.use_predictor(6, AmedPredictor(pipe.unet.mid_block.resnets[-1].out_channels))
    pipe.scheduler = scheduler
    calls: list[int] = []
    counter = pipe.unet.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        with solver_hooks(scheduler, pipe.unet):
            images = pipe(["a", "b"], num_inference_steps=6, guidance_scale=2.0, output_type="np")
    finally:
        counter.remove()
    assert len(calls) == 6 and np.isfinite(images.images).all()


def test_fit_trains_the_plugin_and_lowers_its_loss(tiny_emoji_pipe):
    options = FitOptions(samples=4, batch_size=2, substeps=2, epochs=6, lr=2e-2)
    config = dict(tiny_emoji_pipe.scheduler.config)
    result = fit_predictor(
        tiny_emoji_pipe, config, 5, options, None, lambda *a: None, Variant.plugin
    )
    assert result.variant is Variant.plugin
    assert math.isfinite(result.loss_before) and result.loss_after < result.loss_before
    assert all(0.0 < r < 1.0 for r in result.mean_r)


@pytest.fixture
def emoji_ref(tmp_path) -> ModelRef:
    folder = save_tiny_emoji_pipeline(tmp_path / "tiny-emoji")
    return ModelRef(location=str(folder), source=ModelSource.folder)


def test_the_plugin_cache_is_its_own_and_follows_the_weights(tmp_path, emoji_ref):
    predictors = AmedPredictors(cache_dir=tmp_path / "amed", options=TINY, dataset=tmp_path / "no")
    loaded = load_pipeline(emoji_ref, device="cpu")
    plugin_path = predictors.path_for(loaded, 3, Variant.plugin)
    assert plugin_path != predictors.path_for(loaded, 3)
    assert predictors.key_for(loaded, 3, Variant.plugin) != predictors.key_for(loaded, 3)
    stored = predictors.stored_for(loaded, 3, variant=Variant.plugin)
    assert plugin_path.is_file() and stored.info["variant"] == "plugin"
    assert not predictors.path_for(loaded, 3).exists()

    changed = tmp_path / "changed"
    shutil.copytree(emoji_ref.location, changed)
    other = load_pipeline(ModelRef(location=str(changed), source=ModelSource.folder), device="cpu")
    with torch.no_grad():
        next(other.pipe.unet.parameters()).add_(0.01)
    tasks: list[str] = []
    predictors.stored_for(other, 3, lambda t, *_: tasks.append(t), variant=Variant.plugin)
    assert TRAINING_TASK in tasks
    assert predictors.path_for(other, 3, Variant.plugin) != plugin_path


def test_runner_counts_the_plugin_nfe(tmp_path, emoji_ref):
    predictors = AmedPredictors(cache_dir=tmp_path / "amed", options=TINY, dataset=tmp_path / "no")
    runner = Runner(ModelCache(), amed_predictors=predictors)
    params = GenerationParams(
        prompt="a cube", sampler="AMED-Plugin", num_inference_steps=4, width=32, height=32, seed=1
    )
    sink = Collector()
    job = GenerateJob(lane=LaneSpec(model=emoji_ref, params=params), previews=PreviewOptions())
    runner.run(job, CancelToken(), sink)
    finished = sink.of(LaneFinished)[0]
    assert finished.steps == 4 and np.isfinite(finished.images[0]).all()
    assert any(p.name.startswith("amed-plugin-") for p in (tmp_path / "amed").iterdir())


def test_the_plugin_fit_keeps_the_grid_power_that_ends_nearest_the_reference(tiny_emoji_pipe):
    powers = (0.25, 0.6, 1.0)
    options = FitOptions(samples=4, batch_size=2, substeps=2, epochs=1, grid_powers=powers)
    config = dict(tiny_emoji_pipe.scheduler.config)
    tasks: list[str] = []
    result = fit_predictor(
        tiny_emoji_pipe, config, 5, options, None, lambda t, *_: tasks.append(t), Variant.plugin
    )
    tried = dict(result.power_losses)
    assert tuple(tried) == powers and all(math.isfinite(v) for v in tried.values())
    assert result.grid_power == min(tried, key=tried.__getitem__)
    # The midpoint loss of the chosen grid is the one the choice was made on.
    assert result.loss_before == pytest.approx(tried[result.grid_power], rel=1e-6)
    assert tasks.count(GRID_TASK) == len(powers)


def test_the_solver_variant_keeps_its_fixed_grid(tiny_emoji_pipe):
    config = dict(tiny_emoji_pipe.scheduler.config)
    result = fit_predictor(tiny_emoji_pipe, config, 4, TINY, None, lambda *a: None)
    assert result.grid_power is None and result.power_losses == ()


def test_grid_powers_outside_zero_one_are_refused(alphas):
    for power in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match=r"grid power lies in \(0, 1\]"):
            make_plan(alphas, 4, Variant.plugin, power)


def test_the_stored_grid_power_reaches_the_sampling_plan(tmp_path, emoji_ref):
    options = FitOptions(samples=2, batch_size=2, substeps=2, epochs=1, grid_powers=(0.7,))
    predictors = AmedPredictors(cache_dir=tmp_path / "amed", options=options, dataset=tmp_path)
    loaded = load_pipeline(emoji_ref, device="cpu")
    stored = predictors.stored_for(loaded, 5, variant=Variant.plugin)
    assert stored.grid_power == 0.7 and "0.7" in stored.info["grid_losses"]
    scheduler = make_scheduler(loaded.pipe.scheduler.config, "AMED-Plugin")
    predictors.attach(scheduler, loaded, lambda *a: None, 5)
    scheduler.set_timesteps(5)
    wanted = make_plan(scheduler.alphas_cumprod, 5, Variant.plugin, 0.7)
    assert scheduler.plan == wanted
    assert wanted != make_plan(scheduler.alphas_cumprod, 5, Variant.plugin)


def test_a_file_with_a_grid_power_out_of_range_is_a_miss(tmp_path, emoji_ref):
    options = FitOptions(samples=2, batch_size=2, substeps=2, epochs=1, grid_powers=(0.5,))
    predictors = AmedPredictors(cache_dir=tmp_path / "amed", options=options, dataset=tmp_path)
    loaded = load_pipeline(emoji_ref, device="cpu")
    stored = predictors.stored_for(loaded, 3, variant=Variant.plugin)
    path = predictors.path_for(loaded, 3, Variant.plugin)
    tensors = {k: v.contiguous() for k, v in stored.predictor.state_dict().items()}
    path.write_bytes(save(tensors, metadata={**stored.info, "grid_power": "7"}))
    key = predictors.key_for(loaded, 3, Variant.plugin)
    assert load_predictor(path, key) is None
    path.write_bytes(save(tensors, metadata=stored.info))
    assert load_predictor(path, key) is not None
