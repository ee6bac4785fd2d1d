"""The Monte Carlo estimate of a model's Gamma table over noised clean samples.

For each timestep n of a grid over the training range, every clean sample x0 is noised
(`x_n = a_n x0 + s_n eps`, fresh eps) and the model's eps prediction is taken, with the
sample's own condition. `Gamma_n = E ||eps_theta||^2 / d` is averaged over the samples with the
drawn noise as a control variate, since `E ||eps||^2 / d = 1` is known exactly:
`Gamma_n = mean(h) - beta (mean(e) - 1)`, `h = ||eps_theta||^2 / d`, `e = ||eps||^2 / d`, with the
regression slope `beta = cov(h, e) / var(e)` of the same samples. It removes most of the Monte
Carlo noise where eps_theta follows eps (high noise, beta near 1, where `1 - Gamma_n` is small
and is divided by `abar_n`) and leaves the plain mean where eps_theta is small (beta near 0).
At the last grid timestep the mean squared error of the x0 prediction is kept too
(`terminal_x0_var`; at a zero-SNR end it replaces the degenerate Gamma, see `variance`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from diffusers import DDPMScheduler
from tqdm import tqdm

from studio.engine.analytic.variance import GammaTable

Denoiser = Callable[[torch.Tensor, int, slice], torch.Tensor]
"""The raw model output for noised `x_t` at training timestep `t`, conditioned as rows `rows`."""

ProgressHook = Callable[[int, int], None]
"""Called with (batches done, batches in all) after each batch; raising from it cancels."""

SCHEDULE_KEYS = (
    "num_train_timesteps",
    "beta_start",
    "beta_end",
    "beta_schedule",
    "trained_betas",
    "rescale_betas_zero_snr",
    "prediction_type",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class EstimateOptions:
    """How much work the estimate does: grid timesteps, clean samples, batch size, seed."""

    grid_points: int = 50
    samples: int = 128
    batch_size: int = 32
    seed: int = 0


@dataclass(frozen=True, slots=True)
class CleanData:
    """Clean samples in the model's space, row-aligned with the denoiser's conditions.

    `source` says where they came from: a dataset, or the model's own samples.
    """

    x0: torch.Tensor
    source: str


def schedule_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of a scheduler config that fix alpha-bar and the prediction type."""
    return {k: config[k] for k in SCHEDULE_KEYS if k in config}


def training_alphas_cumprod(config: Mapping[str, Any]) -> np.ndarray:
    """The model's training alpha-bar per timestep, as diffusers computes it."""
    scheduler = DDPMScheduler.from_config(schedule_config(config))
    return scheduler.alphas_cumprod.to(torch.float64).numpy()


def training_grid(num_train_timesteps: int, points: int) -> np.ndarray:
    """About `points` evenly spread training timesteps, always including 0 and the last."""
    count = max(2, min(points, num_train_timesteps))
    grid = np.round(np.linspace(0, num_train_timesteps - 1, count)).astype(np.int64)
    return np.unique(grid)


def split_prediction(
    output: torch.Tensor, x_t: torch.Tensor, a: float, s: float, prediction_type: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(eps_theta, x0_theta) from a model output of the given prediction type."""
    if prediction_type == "v_prediction":
        return a * output + s * x_t, a * x_t - s * output
    if prediction_type == "sample":
        return (x_t - a * output) / s, output
    if prediction_type == "epsilon":
        return output, (x_t - s * output) / max(a, 1e-6)
    raise ValueError(f"Unknown prediction type {prediction_type!r}.")


def _per_sample_mean(values: torch.Tensor) -> torch.Tensor:
    return values.flatten(1).mean(dim=1)


class _Progress:
    """A tqdm bar and the caller's hook, advanced once per batch."""

    def __init__(self, total: int, hook: ProgressHook | None, show_bar: bool) -> None:
        self.total, self.done, self.hook = total, 0, hook
        self.bar = tqdm(total=total, desc="Gamma table", unit="batch", disable=not show_bar)

    def advance(self) -> None:
        self.done += 1
        self.bar.update()
        if self.hook is not None:
            self.hook(self.done, self.total)

    def close(self) -> None:
        self.bar.close()


@dataclass(frozen=True, slots=True)
class _Pass:
    """One sweep over the clean data at one timestep: what it needs besides the timestep."""

    denoise: Denoiser
    data: CleanData
    batches: list[slice]
    prediction_type: str
    generator: torch.Generator
    progress: _Progress

    def at(self, t: int, abar: float) -> tuple[float, float]:
        """(Gamma_t with the control variate, mean ||x0 - x0_theta||^2 / d) at timestep t."""
        a, s = abar**0.5, (1.0 - abar) ** 0.5
        e, h, error = [], [], []
        for rows in self.batches:
            x0 = self.data.x0[rows].float()
            eps = torch.randn(x0.shape, generator=self.generator).to(x0.device)
            x_t = a * x0 + s * eps
            output = self.denoise(x_t, t, rows).float()
            eps_hat, x0_hat = split_prediction(output, x_t, a, s, self.prediction_type)
            e.append(_per_sample_mean(eps**2).double().cpu())
            h.append(_per_sample_mean(eps_hat**2).double().cpu())
            error.append(_per_sample_mean((x0 - x0_hat) ** 2).double().cpu())
            self.progress.advance()
        return controlled_mean(torch.cat(h), torch.cat(e)), float(torch.cat(error).mean())


def controlled_mean(h: torch.Tensor, e: torch.Tensor) -> float:
    """The mean of h, corrected by the control variate e whose expectation is 1."""
    e_centred = e - e.mean()
    spread = float((e_centred**2).sum())
    beta = float((e_centred * (h - h.mean())).sum()) / spread if spread > 0 else 0.0
    return float(h.mean()) - beta * (float(e.mean()) - 1.0)


@torch.no_grad()
def estimate_gamma(
    denoise: Denoiser,
    data: CleanData,
    scheduler_config: Mapping[str, Any],
    options: EstimateOptions = EstimateOptions(),
    on_progress: ProgressHook | None = None,
    show_bar: bool = False,
) -> GammaTable:
    """Estimate Gamma_n on a grid of training timesteps from `data` noised afresh at each one."""
    count = len(data.x0)
    if count < 2:
        raise ValueError("Estimating a Gamma table needs at least two clean samples.")
    alphas_cumprod = training_alphas_cumprod(scheduler_config)
    grid = training_grid(len(alphas_cumprod), options.grid_points)
    step = max(1, options.batch_size)
    batches = [slice(i, min(i + step, count)) for i in range(0, count, step)]
    progress = _Progress(len(grid) * len(batches), on_progress, show_bar)
    sweep = _Pass(
        denoise,
        data,
        batches,
        str(scheduler_config.get("prediction_type", "epsilon")),
        torch.Generator("cpu").manual_seed(options.seed),
        progress,
    )
    try:
        stats = np.array([sweep.at(t, float(alphas_cumprod[t])) for t in grid.tolist()])
    finally:
        progress.close()
    return GammaTable(
        timesteps=grid,
        alphas_cumprod=alphas_cumprod[grid],
        gamma=stats[:, 0],
        data_var=float(data.x0.float().var(dim=0).mean()),
        terminal_x0_var=float(stats[-1, 1]),
        samples=count,
        source=data.source,
        num_train_timesteps=len(alphas_cumprod),
    )
