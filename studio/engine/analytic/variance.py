"""The Analytic-DPM maths: the optimal reverse variance of a DDIM-family step, and the table.

Notation: `x_n = a_n x0 + s_n eps`, `abar_n = a_n^2 = 1 - s_n^2` (diffusers' `alphas_cumprod`),
`d` the number of dimensions. A step goes from timestep n to the next one of the chosen
schedule, m (diffusers' DDIM takes `m = n - T // N`; past the clean end `abar_m` is the
scheduler's `final_alpha_cumprod`).

1. The step. DDIM's generalised forward posterior is
   `q(x_m | x_n, x0) = N(sqrt(abar_m) x0 + sqrt(1 - abar_m - lam^2) (x_n - a_n x0) / s_n, lam^2 I)`
   with `lam^2 = eta^2 (1 - abar_m) / (1 - abar_n) (1 - abar_n / abar_m)` (diffusers'
   `_get_variance` times eta^2; eta = 1 is DDPM). Its x0 coefficient is
   `c_n = sqrt(abar_m) - sqrt(1 - abar_m - lam^2) a_n / s_n`.
2. The optimal Gaussian reverse kernel (Bao et al., Theorem 1) keeps DDIM's mean, with x0
   replaced by E[x0 | x_n] (what diffusers computes from the model), and has the variance
   `var* = lam^2 + c_n^2 v_n`, where `v_n = E tr Cov(x0 | x_n) / d`.
3. Gamma. As `eps = (x_n - a_n x0) / s_n` and `E ||eps||^2 / d = 1`,
   `v_n = (1 - abar_n) / abar_n * (1 - Gamma_n)` with `Gamma_n = E ||E[eps | x_n]||^2 / d`,
   estimated by `E ||eps_theta(x_n, n)||^2 / d`. Substituted, this is the paper's form
   `var* = lam^2 + (sqrt(abar_m (1 - abar_n) / abar_n) - sqrt(1 - abar_m - lam^2))^2 (1 - Gamma_n)`.
   For v-prediction `eps_theta = a_n v + s_n x_n` and `x0_theta = a_n x_n - s_n v`.
4. Bounds. `v_n` is an average conditional variance, so `0 <= v_n <= tr Cov(x0) / d` (law of
   total variance), which is at most the paper's `((b - a) / 2)^2` for data in `[a, b]^d` (1 for
   images in [-1, 1]). Hence `lam^2 <= var* <= lam^2 + c_n^2 Var(x0)`, or in Gamma terms
   `1 - abar_n / (1 - abar_n) Var(x0) <= Gamma_n <= 1`. `v_n` is clipped to `[0, data_var]`,
   `data_var` being the per-dimension variance of the clean samples the table was estimated on.
5. Zero terminal SNR (`abar_n = 0`). There `x_n` is pure noise, `eps_theta = x_n` and
   `Gamma_n = 1` exactly while `(1 - abar_n) / abar_n` is infinite: the Gamma form is 0 * inf and
   says nothing. Its limit is `v_n = E tr Cov(x0 | condition) / d`, which the estimate measures
   directly as the mean squared error of the predicted x0 (`-v_theta` at `abar = 0`), kept as
   `terminal_x0_var`. There `c_n = sqrt(abar_m)`, so `var* = lam^2 + abar_m v_n`: finite. Close
   to that end the Gamma form divides Monte Carlo error by `abar_n`; the clipping bounds it.
6. Between grid points `v_n` (bounded and smooth in n) is interpolated linearly in the timestep,
   not Gamma_n, which near the zero-SNR end moves with `abar_n` over orders of magnitude.
7. The last step, to the clean end, adds no noise: its mean is the image, as in DDPM and DDIM.
8. eta = 0 gives `lam = 0` but `var* = c_n^2 v_n > 0`: the paper's Analytic-DDIM, a stochastic
   sampler, not deterministic DDIM.
9. Conditional models: Gamma is estimated with each sample's own condition at guidance 1.
   Classifier-free guidance changes eps, so with CFG the table is an approximation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def x0_variance(gamma: float, abar: float, data_var: float) -> float:
    """`v_n` from `Gamma_n` at `abar_n > 0`, clipped to its bounds `[0, data_var]`."""
    raw = (1.0 - abar) / abar * (1.0 - gamma)
    return min(max(raw, 0.0), data_var)


def x0_coefficient(abar_t: float, abar_prev: float, lam2: float) -> float:
    """`c_n`: how much the x0 estimate moves the DDIM mean of the step t -> prev."""
    direction = math.sqrt(max(1.0 - abar_prev - lam2, 0.0))
    return math.sqrt(abar_prev) - direction * math.sqrt(abar_t / max(1.0 - abar_t, 1e-12))


def optimal_variance(abar_t: float, abar_prev: float, lam2: float, x0_var: float) -> float:
    """Analytic-DPM's `var* = lam^2 + c_n^2 v_n` of the step t -> prev."""
    return lam2 + x0_coefficient(abar_t, abar_prev, lam2) ** 2 * x0_var


def variance_bounds(
    abar_t: float, abar_prev: float, lam2: float, data_var: float
) -> tuple[float, float]:
    """The theoretical range of `var*`: `[lam^2, lam^2 + c_n^2 Var(x0)]`."""
    return lam2, optimal_variance(abar_t, abar_prev, lam2, data_var)


@dataclass(frozen=True, slots=True, kw_only=True)
class GammaTable:
    """One model's Monte Carlo estimate of Gamma_n on a grid of training timesteps."""

    timesteps: np.ndarray
    alphas_cumprod: np.ndarray
    gamma: np.ndarray
    data_var: float
    terminal_x0_var: float
    samples: int
    source: str
    num_train_timesteps: int

    def __post_init__(self) -> None:
        sizes = {len(self.timesteps), len(self.alphas_cumprod), len(self.gamma)}
        if len(sizes) != 1 or not len(self.timesteps):
            raise ValueError("a Gamma table needs equally long, non-empty columns")
        if np.any(np.diff(self.timesteps) <= 0):
            raise ValueError("a Gamma table's timesteps must increase")
        values = np.concatenate([self.alphas_cumprod, self.gamma])
        scalars = (self.data_var, self.terminal_x0_var)
        if not (np.isfinite(values).all() and all(map(math.isfinite, scalars))):
            raise ValueError("a Gamma table holds only finite numbers")

    def grid_x0_variance(self) -> np.ndarray:
        """`v_n` at each grid timestep, clipped; the zero-SNR point uses `terminal_x0_var`."""
        terminal = min(max(self.terminal_x0_var, 0.0), self.data_var)
        return np.array(
            [
                x0_variance(float(g), float(a), self.data_var) if a > 0 else terminal
                for g, a in zip(self.gamma, self.alphas_cumprod, strict=True)
            ]
        )

    def x0_variance_at(self, timestep: float) -> float:
        """`v_n` at any training timestep, linear between grid points."""
        return float(np.interp(timestep, self.timesteps, self.grid_x0_variance()))
