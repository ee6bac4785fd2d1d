"""Gaussian data N(mean, std^2 I): the exact denoiser and the closed-form Analytic-DPM answers.

With `x_t = a x0 + s eps` and `q = a^2 std^2 + s^2`:
`E[eps | x_t] = s (x_t - a mean) / q`, `E[x0 | x_t] = mean + a std^2 (x_t - a mean) / q`,
`Gamma_t = s^2 / q` and `v_t = E Var(x0 | x_t) = std^2 s^2 / q` (= std^2 at zero SNR).
"""

from __future__ import annotations

import numpy as np
import torch

from studio.engine.analytic.estimate import CleanData, training_grid
from studio.engine.analytic.variance import GammaTable


def exact_gamma(abar: np.ndarray | float, std: float) -> np.ndarray:
    abar = np.asarray(abar, dtype=np.float64)
    return (1 - abar) / (abar * std**2 + 1 - abar)


def exact_x0_variance(abar: np.ndarray | float, std: float) -> np.ndarray:
    return std**2 * exact_gamma(abar, std)


class GaussianDenoiser:
    """The Bayes-optimal model output for Gaussian data, in any prediction type."""

    def __init__(self, alphas_cumprod, mean: float, std: float, prediction_type: str) -> None:
        self.abar = np.asarray(alphas_cumprod, dtype=np.float64)
        self.mean, self.std, self.prediction_type = mean, std, prediction_type

    def posterior(self, x_t: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor, float]:
        abar = float(self.abar[t])
        a, s = abar**0.5, (1 - abar) ** 0.5
        q = abar * self.std**2 + s * s
        centred = x_t.double() - a * self.mean
        return s * centred / q, self.mean + a * self.std**2 * centred / q, abar

    def __call__(self, x_t: torch.Tensor, t: int, rows: slice | None = None) -> torch.Tensor:
        eps, x0, abar = self.posterior(x_t, t)
        a, s = abar**0.5, (1 - abar) ** 0.5
        if self.prediction_type == "v_prediction":
            return (a * eps - s * x0).float()
        if self.prediction_type == "sample":
            return x0.float()
        return eps.float()


def gaussian_data(count: int, dims: int, mean: float, std: float, seed: int = 0) -> CleanData:
    generator = torch.Generator().manual_seed(seed)
    x0 = mean + std * torch.randn(count, dims, generator=generator)
    return CleanData(x0=x0, source="gaussian")


def exact_table(alphas_cumprod, std: float, grid_points: int = 50) -> GammaTable:
    """The Gamma table an infinite Monte Carlo estimate would give for Gaussian data."""
    abar = np.asarray(alphas_cumprod, dtype=np.float64)
    grid = training_grid(len(abar), grid_points)
    return GammaTable(
        timesteps=grid,
        alphas_cumprod=abar[grid],
        gamma=exact_gamma(abar[grid], std),
        data_var=std**2,
        terminal_x0_var=float(exact_x0_variance(abar[grid[-1]], std)),
        samples=0,
        source="closed form",
        num_train_timesteps=len(abar),
    )
