"""DDIM and DDPM steps whose added noise has Analytic-DPM's optimal variance.

diffusers' `DDIMScheduler.step` computes the mean (DDIM's, for the given eta, with the zero-SNR
fix of `studio.engine.ddim`); the subclass replaces only the noise it adds, with `sqrt(var*)`
from `variance.optimal_variance`.
"""

from __future__ import annotations

import torch
from diffusers.schedulers.scheduling_ddim import DDIMSchedulerOutput
from diffusers.utils.torch_utils import randn_tensor

from studio.engine.analytic.variance import GammaTable, optimal_variance
from studio.engine.ddim import ZeroSnrSafeDDIMScheduler


class MissingGammaTable(RuntimeError):
    """An analytic-variance scheduler asked to step before it was given its Gamma table."""


class AnalyticDDIMScheduler(ZeroSnrSafeDDIMScheduler):
    """A DDIM step (mean from diffusers, for the call's eta) plus noise of the optimal variance."""

    fixed_eta: float | None = None
    gamma_table: GammaTable | None = None

    def use_table(self, table: GammaTable) -> None:
        trained = self.config["num_train_timesteps"]
        if table.num_train_timesteps != trained:
            raise ValueError(
                f"The Gamma table covers {table.num_train_timesteps} training timesteps, "
                f"the scheduler {trained}."
            )
        self.gamma_table = table

    def analytic_variance(self, timestep: int, eta: float) -> float:
        """`var*` of the step from `timestep` (0 on the last step, which returns the mean)."""
        if self.gamma_table is None:
            raise MissingGammaTable(
                f"{type(self).__name__} needs the model's Gamma table: call use_table first."
            )
        t = int(timestep)
        prev = self.grid_timestep(t)
        if prev < 0:
            return 0.0
        abar_t = float(self.alphas_cumprod[t])
        abar_prev = float(self.alphas_cumprod[prev])
        lam2 = eta**2 * float(self._get_variance(t, prev))
        return optimal_variance(abar_t, abar_prev, lam2, self.gamma_table.x0_variance_at(t))

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int,
        sample: torch.Tensor,
        eta: float = 0.0,
        use_clipped_model_output: bool = False,
        generator: torch.Generator | None = None,
        variance_noise: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> DDIMSchedulerOutput | tuple:
        eta = self.fixed_eta if self.fixed_eta is not None else eta
        variance = self.analytic_variance(timestep, eta)
        mean, x0 = super().step(
            model_output,
            timestep,
            sample,
            eta=eta,
            use_clipped_model_output=use_clipped_model_output,
            variance_noise=torch.zeros_like(sample) if eta > 0 else None,
            return_dict=False,
        )
        prev_sample = mean
        if variance > 0:
            if variance_noise is None:
                variance_noise = randn_tensor(
                    sample.shape, generator=generator, device=sample.device, dtype=sample.dtype
                )
            prev_sample = mean + variance**0.5 * variance_noise
        if not return_dict:
            return prev_sample, x0
        return DDIMSchedulerOutput(prev_sample=prev_sample, pred_original_sample=x0)


class AnalyticDDPMScheduler(AnalyticDDIMScheduler):
    """DDPM with the optimal variance: DDIM's eta = 1 mean (DDPM's posterior mean) whatever eta."""

    fixed_eta = 1.0
