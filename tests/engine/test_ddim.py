"""DDIM with eta > 0 from a zero-SNR start: diffusers' float32 step turns NaN, ours does not."""

from __future__ import annotations

import inspect
import itertools

import pytest
import torch
from diffusers import DDIMScheduler

from studio.core.params import ScheduleOptions
from studio.core.samplers import ModelKind
from studio.engine.ddim import ZeroSnrSafeDDIMScheduler
from studio.engine.samplers import make_scheduler
from tests.engine.tiny import tiny_emoji_scheduler, tiny_sd_scheduler

EMOJI = {**tiny_emoji_scheduler().config, "_class_name": "DDPMScheduler"}


def first_step(scheduler, steps: int, eta: float) -> torch.Tensor:
    scheduler.set_timesteps(steps)
    t = int(scheduler.timesteps[0])
    x = torch.randn(1, 8, generator=torch.Generator().manual_seed(0))
    v = torch.randn(1, 8, generator=torch.Generator().manual_seed(1))
    noise = torch.randn(1, 8, generator=torch.Generator().manual_seed(2))
    return scheduler.step(v, t, x, eta=eta, variance_noise=noise).prev_sample


def test_diffusers_ddim_turns_nan_at_some_step_counts_which_is_why_we_fix_it():
    """Which counts fail depends on the CPU's rounding of the variance (25 steps on an AMD EPYC,
    3, 7, 9, 15, 24... on an Intel Xeon with AMX), so the whole range is searched."""
    failing = [
        steps
        for steps in range(1, 60)
        if torch.isnan(first_step(DDIMScheduler.from_config(EMOJI), steps, 1.0)).all()
    ]
    assert failing


@pytest.mark.parametrize("name", ["DDIM", "DDIM trailing"])
def test_catalogue_ddim_stays_finite_at_every_step_count(name):
    scheduler = make_scheduler(EMOJI, name, ScheduleOptions(), ModelKind.vp)
    assert isinstance(scheduler, ZeroSnrSafeDDIMScheduler)
    for steps in range(1, 60):
        for eta in (0.5, 1.0):
            assert torch.isfinite(first_step(scheduler, steps, eta)).all(), (steps, eta)


@pytest.mark.parametrize("name", ["DDIM", "DDIM trailing"])
def test_catalogue_ddim_step_names_what_pipelines_pass(name):
    """Pipelines pass eta and generator only to a `step` whose signature names them: with
    `*args, **kwargs` DDIM ran every eta as 0 and never saw the seeded generator."""
    scheduler = make_scheduler(EMOJI, name, ScheduleOptions(), ModelKind.vp)
    ours = inspect.signature(scheduler.step).parameters
    theirs = inspect.signature(DDIMScheduler.from_config(EMOJI).step).parameters
    assert {"eta", "generator", "variance_noise"} <= set(ours)
    assert list(ours) == list(theirs)


@pytest.mark.parametrize("config", [EMOJI, dict(tiny_sd_scheduler().config)], ids=["emoji", "sd"])
def test_the_fix_changes_nothing_else(config):
    ours = ZeroSnrSafeDDIMScheduler.from_config(config)
    theirs = DDIMScheduler.from_config(config)
    for steps in (10, 50):
        a, b = first_step(ours, steps, 0.7), first_step(theirs, steps, 0.7)
        if torch.isfinite(b).all():
            assert torch.allclose(a, b, atol=1e-5)
        for t in ours.timesteps.tolist()[1:]:
            prev = t - 1000 // steps
            assert float(ours._get_variance(t, prev)) == pytest.approx(
                float(theirs._get_variance(t, prev)), rel=1e-5
            )


def _loop(scheduler, steps: int, eta: float = 0.0) -> torch.Tensor:
    scheduler.set_timesteps(steps)
    x = torch.randn(1, 8, generator=torch.Generator().manual_seed(0))
    for i, t in enumerate(scheduler.timesteps):
        v = torch.sin(x * (i + 1))
        noise = torch.randn(1, 8, generator=torch.Generator().manual_seed(i))
        x = scheduler.step(v, t, x, eta=eta, variance_noise=noise).prev_sample
    return x


@pytest.mark.parametrize("steps", [10, 25, 50])
def test_where_the_stride_is_the_grid_nothing_changes(steps):
    ours, theirs = ZeroSnrSafeDDIMScheduler.from_config(EMOJI), DDIMScheduler.from_config(EMOJI)
    assert torch.allclose(_loop(ours, steps), _loop(theirs, steps), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("steps", [3, 32, 64])
def test_each_step_lands_on_the_next_grid_timestep(steps):
    scheduler = ZeroSnrSafeDDIMScheduler.from_config(EMOJI)
    scheduler.set_timesteps(steps)
    grid = [*scheduler.timesteps.tolist(), -1]
    abar = scheduler.alphas_cumprod.clone()
    off_grid = 0
    x = torch.randn(1, 8, generator=torch.Generator().manual_seed(0))
    for t, prev in itertools.pairwise(grid):
        off_grid += scheduler.stride_timestep(t) != prev
        v = torch.cos(x)
        a, s = abar[t].sqrt(), (1 - abar[t]).sqrt()
        x0, eps = a * x - s * v, s * x + a * v
        a_prev = abar[prev] if prev >= 0 else scheduler.final_alpha_cumprod
        expected = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
        x_next = scheduler.step(v, t, x).prev_sample
        assert torch.allclose(x_next, expected, atol=1e-5), (t, prev)
        assert torch.equal(scheduler.alphas_cumprod, abar)
        x = x_next
    assert off_grid > 0, "these step counts are the ones diffusers' stride gets wrong"
