"""diffusers' DDIM with one numerical fix for zero-terminal-SNR schedules.

A DDIM step from `abar_t = 0` (the first step of a zero-SNR model) has `sigma^2 = 1 - abar_prev`
at eta = 1, so its direction coefficient `sqrt(1 - abar_prev - sigma^2)` is the square root of
zero, which float32 rounding in `DDIMScheduler.step` makes slightly negative: NaN, and a black
image, at 3, 7, 14, 25... steps (diffusers 0.42). The variance is computed here in float64 and
kept a hair under `1 - abar_prev` as `step` computes it.
"""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler


class ZeroSnrSafeDDIMScheduler(DDIMScheduler):
    """DDIMScheduler whose eta > 0 steps stay finite from a zero-SNR start; otherwise identical."""

    def _get_variance(self, timestep: int, prev_timestep: int) -> torch.Tensor:
        abar_prev = (
            self.alphas_cumprod[prev_timestep] if prev_timestep >= 0 else self.final_alpha_cumprod
        )
        a, a_prev = float(self.alphas_cumprod[timestep]), float(abar_prev)
        variance = (1 - a_prev) / (1 - a) * (1 - a / a_prev)
        room = float(1 - abar_prev) * (1 - 1e-12)
        return torch.tensor(min(variance, room), dtype=torch.float64)
