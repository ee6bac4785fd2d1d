"""Analytic-DPM on Gaussian data, where Gamma and the optimal reverse variance are known exactly."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler

from studio.core.params import ScheduleOptions
from studio.core.samplers import ModelKind
from studio.engine.analytic.estimate import EstimateOptions, estimate_gamma, training_grid
from studio.engine.analytic.scheduler import (
    AnalyticDDIMScheduler,
    AnalyticDDPMScheduler,
    MissingGammaTable,
)
from studio.engine.analytic.variance import (
    GammaTable,
    optimal_variance,
    variance_bounds,
    x0_coefficient,
)
from studio.engine.samplers import make_scheduler
from tests.engine.gaussian import (
    GaussianDenoiser,
    exact_gamma,
    exact_table,
    exact_x0_variance,
    gaussian_data,
)
from tests.engine.tiny import tiny_emoji_scheduler, tiny_sd_scheduler

MEAN, STD = 0.3, 0.5
OPTIONS = EstimateOptions(grid_points=12, samples=8192, batch_size=4096)


def config_of(scheduler) -> dict:
    return {**scheduler.config, "_class_name": type(scheduler).__name__}


@pytest.fixture(scope="module")
def emoji_config() -> dict:
    return config_of(tiny_emoji_scheduler())


@pytest.fixture(scope="module")
def sd_config() -> dict:
    return config_of(tiny_sd_scheduler())


def estimated(config: dict) -> GammaTable:
    abar = DDIMScheduler.from_config(config).alphas_cumprod
    model = GaussianDenoiser(abar, MEAN, STD, config["prediction_type"])
    return estimate_gamma(model, gaussian_data(OPTIONS.samples, 64, MEAN, STD), config, OPTIONS)


def test_the_variance_formula_matches_a_simulated_reverse_step():
    abar_n, abar_m, eta = 0.3, 0.6, 0.5
    lam2 = eta**2 * (1 - abar_m) / (1 - abar_n) * (1 - abar_n / abar_m)
    gen = np.random.default_rng(0)
    x0 = MEAN + STD * gen.standard_normal(400_000)
    x_n = math.sqrt(abar_n) * x0 + math.sqrt(1 - abar_n) * gen.standard_normal(len(x0))
    eps_dir = (x_n - math.sqrt(abar_n) * x0) / math.sqrt(1 - abar_n)
    x_m = math.sqrt(abar_m) * x0 + math.sqrt(1 - abar_m - lam2) * eps_dir
    x_m += math.sqrt(lam2) * gen.standard_normal(len(x0))
    slope, intercept = np.polyfit(x_n, x_m, 1)
    residual = np.var(x_m - (slope * x_n + intercept))
    expected = optimal_variance(abar_n, abar_m, lam2, float(exact_x0_variance(abar_n, STD)))
    assert residual == pytest.approx(expected, rel=0.01)


def test_the_paper_form_equals_the_x0_form():
    abar_n, abar_m, lam2, gamma = 0.2, 0.5, 0.05, 0.9
    paper = lam2 + (
        math.sqrt(abar_m * (1 - abar_n) / abar_n) - math.sqrt(1 - abar_m - lam2)
    ) ** 2 * (1 - gamma)
    x0_var = (1 - abar_n) / abar_n * (1 - gamma)
    assert optimal_variance(abar_n, abar_m, lam2, x0_var) == pytest.approx(paper)


@pytest.mark.parametrize("which", ["emoji", "sd"])
def test_monte_carlo_gamma_matches_the_closed_form(which, emoji_config, sd_config):
    config = emoji_config if which == "emoji" else sd_config
    table = estimated(config)
    assert table.timesteps[0] == 0 and table.timesteps[-1] == 999
    gamma_tolerance = 4e-3
    np.testing.assert_allclose(
        table.gamma, exact_gamma(table.alphas_cumprod, STD), atol=gamma_tolerance
    )
    abar = table.alphas_cumprod
    amplified = gamma_tolerance * (1 - abar) / np.maximum(abar, 1e-12)
    tolerance = 0.005 + np.where(abar > 0, amplified, 0.0)
    error = np.abs(table.grid_x0_variance() - exact_x0_variance(abar, STD))
    assert (error <= tolerance).all()
    assert table.data_var == pytest.approx(STD**2, rel=0.05)


def test_zero_snr_end_uses_the_measured_x0_error(emoji_config):
    table = estimated(emoji_config)
    assert table.alphas_cumprod[-1] == 0.0
    assert table.gamma[-1] == pytest.approx(1.0, abs=1e-9)
    assert table.terminal_x0_var == pytest.approx(STD**2, rel=0.05)
    assert table.x0_variance_at(999) == pytest.approx(STD**2, rel=0.05)


def test_the_x0_variance_is_clipped_to_its_bounds():
    base = exact_table(tiny_sd_scheduler().alphas_cumprod, STD, grid_points=5)
    too_high = GammaTable(**{**_fields(base), "gamma": np.full(5, 1.3)})
    too_low = GammaTable(**{**_fields(base), "gamma": np.full(5, -1e4)})
    assert (too_high.grid_x0_variance() == 0.0).all()
    assert np.allclose(too_low.grid_x0_variance(), STD**2)
    low, high = variance_bounds(0.3, 0.6, 0.01, STD**2)
    assert optimal_variance(0.3, 0.6, 0.01, 0.0) == low
    assert optimal_variance(0.3, 0.6, 0.01, too_low.x0_variance_at(500)) == pytest.approx(high)


def _fields(table: GammaTable) -> dict:
    return {name: getattr(table, name) for name in GammaTable.__slots__}


def test_a_table_refuses_bad_numbers():
    base = _fields(exact_table(tiny_sd_scheduler().alphas_cumprod, STD, grid_points=5))
    with pytest.raises(ValueError, match="finite"):
        GammaTable(**{**base, "gamma": np.array([0.1, np.nan, 0.3, 0.4, 0.5])})
    with pytest.raises(ValueError, match="increase"):
        GammaTable(**{**base, "timesteps": base["timesteps"][::-1].copy()})


def analytic(config: dict, name: str, steps: int, std: float = STD) -> AnalyticDDIMScheduler:
    scheduler = make_scheduler(config, name, ScheduleOptions(), ModelKind.vp)
    assert isinstance(scheduler, AnalyticDDIMScheduler)
    scheduler.use_table(exact_table(scheduler.alphas_cumprod, std, grid_points=1000))
    scheduler.set_timesteps(steps)
    return scheduler


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_the_scheduler_adds_exactly_the_optimal_variance(emoji_config, eta):
    scheduler = analytic(emoji_config, "DDIM eta + analytic variance", 10)
    model = GaussianDenoiser(scheduler.alphas_cumprod, MEAN, STD, "v_prediction")
    plain = DDIMScheduler.from_config(scheduler.config)
    plain.set_timesteps(10)
    x = torch.randn(2, 64, generator=torch.Generator().manual_seed(1))
    z = torch.randn(2, 64, generator=torch.Generator().manual_seed(2))
    for t in scheduler.timesteps.tolist():
        out = model(x, t)
        ddim = plain.step(out, t, x, eta=eta, variance_noise=torch.zeros_like(x)).prev_sample
        mean = scheduler.step(out, t, x, eta=eta, variance_noise=torch.zeros_like(x)).prev_sample
        got = scheduler.step(out, t, x, eta=eta, variance_noise=z).prev_sample
        variance = scheduler.analytic_variance(t, eta)
        assert torch.allclose(mean, ddim, atol=1e-3)
        assert torch.allclose(got, mean + variance**0.5 * z, atol=1e-6)
        x = got


def test_the_zero_snr_first_step_is_finite_and_matches_the_closed_form(emoji_config):
    scheduler = analytic(emoji_config, "DDIM eta + analytic variance", 10)
    t, prev = 999, 899
    abar_prev = float(scheduler.alphas_cumprod[prev])
    for eta in (0.0, 1.0):
        lam2 = eta**2 * (1 - abar_prev)
        expected = lam2 + abar_prev * STD**2
        assert scheduler.analytic_variance(t, eta) == pytest.approx(expected, rel=1e-4)


def test_eta_zero_is_still_stochastic_and_the_last_step_returns_the_mean(sd_config):
    scheduler = analytic(sd_config, "DDIM eta + analytic variance", 5)
    variances = [scheduler.analytic_variance(t, 0.0) for t in scheduler.timesteps.tolist()]
    assert all(v > 0 for v in variances[:-1])
    assert variances[-1] == 0.0


def test_analytic_ddpm_uses_eta_one_whatever_it_is_given(sd_config):
    ddpm = analytic(sd_config, "DDPM (analytic variance)", 5)
    ddim = analytic(sd_config, "DDIM eta + analytic variance", 5)
    assert isinstance(ddpm, AnalyticDDPMScheduler)
    x = torch.randn(1, 16, generator=torch.Generator().manual_seed(3))
    z = torch.randn(1, 16, generator=torch.Generator().manual_seed(4))
    out = torch.randn(1, 16, generator=torch.Generator().manual_seed(5))
    t = int(ddpm.timesteps[1])
    a = ddpm.step(out, t, x, eta=0.0, variance_noise=z).prev_sample
    b = ddim.step(out, t, x, eta=1.0, variance_noise=z).prev_sample
    assert torch.equal(a, b)


def test_analytic_variance_lies_between_ddim_and_the_bound(sd_config):
    scheduler = analytic(sd_config, "DDIM eta + analytic variance", 10)
    for t in scheduler.timesteps.tolist()[:-1]:
        prev = t - 1000 // 10
        abar_t = float(scheduler.alphas_cumprod[t])
        abar_prev = float(scheduler.alphas_cumprod[prev])
        lam2 = float(scheduler._get_variance(t, prev))
        low, high = variance_bounds(abar_t, abar_prev, lam2, STD**2)
        assert low <= scheduler.analytic_variance(t, 1.0) <= high + 1e-12
        assert x0_coefficient(abar_t, abar_prev, lam2) ** 2 >= 0


def test_stepping_without_a_table_says_what_is_missing(sd_config):
    scheduler = make_scheduler(sd_config, "DDPM (analytic variance)", ScheduleOptions())
    scheduler.set_timesteps(4)
    with pytest.raises(MissingGammaTable, match="use_table"):
        scheduler.step(torch.zeros(1, 4), int(scheduler.timesteps[0]), torch.zeros(1, 4))


def test_a_table_of_another_schedule_length_is_refused(sd_config):
    scheduler = make_scheduler(sd_config, "DDPM (analytic variance)", ScheduleOptions())
    short = exact_table(np.linspace(0.99, 0.01, 100), STD, grid_points=5)
    with pytest.raises(ValueError, match="100 training timesteps"):
        scheduler.use_table(short)


def test_the_grid_includes_both_ends():
    grid = training_grid(1000, 50)
    assert grid[0] == 0 and grid[-1] == 999 and len(grid) == 50
    assert list(training_grid(10, 50)) == list(range(10))


def test_progress_hook_sees_every_batch_and_can_cancel(emoji_config):
    seen = []
    model = GaussianDenoiser(tiny_emoji_scheduler().alphas_cumprod, MEAN, STD, "v_prediction")
    data = gaussian_data(8, 4, MEAN, STD)
    options = EstimateOptions(grid_points=3, samples=8, batch_size=4)
    estimate_gamma(model, data, emoji_config, options, lambda d, t: seen.append((d, t)))
    assert seen == [(i, 6) for i in range(1, 7)]

    def cancel(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        estimate_gamma(model, data, emoji_config, options, cancel)


def spread_of_samples(scheduler, steps: int, eta: float) -> float:
    """The std of one 4096-dim sample of N(0, STD^2) data drawn with the exact denoiser."""
    model = GaussianDenoiser(scheduler.alphas_cumprod, 0.0, STD, "v_prediction")
    scheduler.set_timesteps(steps)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4096, generator=generator)
    extra = {"eta": eta} if "eta" in inspect.signature(scheduler.step).parameters else {}
    for t in scheduler.timesteps.tolist():
        x = scheduler.step(model(x, t), t, x, generator=generator, **extra).prev_sample
    return x.std().item()


@pytest.mark.parametrize("steps", [4, 10, 25])
def test_the_optimal_variance_recovers_the_data_spread_better_than_ddpm(emoji_config, steps):
    ddpm = make_scheduler(emoji_config, "DDPM", ScheduleOptions(), ModelKind.vp)
    ddpm_error = abs(spread_of_samples(ddpm, steps, 1.0) - STD)
    for name in ("DDPM (analytic variance)", "DDIM eta + analytic variance"):
        error = abs(spread_of_samples(analytic(emoji_config, name, steps), steps, 1.0) - STD)
        assert error < ddpm_error, name
    if steps == 25:
        assert ddpm_error > 0.05 > error


@pytest.mark.parametrize("steps", range(1, 60))
def test_eta_one_from_a_zero_snr_start_never_turns_nan(emoji_config, steps):
    scheduler = analytic(emoji_config, "DDIM eta + analytic variance", steps)
    x = torch.randn(1, 8, generator=torch.Generator().manual_seed(0))
    out = scheduler.step(torch.zeros_like(x), 999, x, eta=1.0, generator=None).prev_sample
    assert torch.isfinite(out).all()
