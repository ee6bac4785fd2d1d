"""diffusers' DDIM with two fixes: zero-terminal-SNR numerics and the previous timestep.

1. A DDIM step from `abar_t = 0` (the first step of a zero-SNR model) has `sigma^2 = 1 - abar_prev`
   at eta = 1, so its direction coefficient `sqrt(1 - abar_prev - sigma^2)` is the square root of
   zero, which float32 rounding in `DDIMScheduler.step` makes slightly negative: NaN, and a black
   image, at 3, 7, 14, 25... steps (diffusers 0.42). The variance is computed here in float64 and
   kept a hair under `1 - abar_prev` as `step` computes it.
2. `DDIMScheduler.step` takes the previous timestep as `t - num_train_timesteps // N`, which is
   the next entry of `self.timesteps` only for "leading" spacing or when N divides the training
   steps (diffusers issues 11347 and 12633). With trailing or linspace spacing the step then lands
   beside the grid and the next model call sees a noise level it was not given: DDIM at 64 steps
   ended further from the 1000-step reference than at 32. Here each step reads its previous
   `abar` from the true next timestep; diffusers' arithmetic is otherwise untouched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from diffusers import DDIMScheduler
from diffusers.schedulers.scheduling_ddim import DDIMSchedulerOutput


class ZeroSnrSafeDDIMScheduler(DDIMScheduler):
    """DDIMScheduler that steps along its own timestep grid and stays finite from zero SNR."""

    def _get_variance(self, timestep: int, prev_timestep: int) -> torch.Tensor:
        abar_prev = (
            self.alphas_cumprod[prev_timestep] if prev_timestep >= 0 else self.final_alpha_cumprod
        )
        a, a_prev = float(self.alphas_cumprod[timestep]), float(abar_prev)
        variance = (1 - a_prev) / (1 - a) * (1 - a / a_prev)
        room = float(1 - abar_prev) * (1 - 1e-12)
        return torch.tensor(min(variance, room), dtype=torch.float64)

    def stride_timestep(self, timestep: int) -> int:
        """Where diffusers' `step` thinks the step from `timestep` goes."""
        return int(timestep) - self.config["num_train_timesteps"] // self.num_inference_steps

    def grid_timestep(self, timestep: int) -> int:
        """The next timestep of the inference grid after `timestep` (-1 after the last)."""
        found = (self.timesteps == int(timestep)).nonzero(as_tuple=True)[0]
        if len(found) == 0:
            return self.stride_timestep(timestep)
        index = int(found[0]) + 1
        return int(self.timesteps[index]) if index < len(self.timesteps) else -1

    @contextlib.contextmanager
    def _previous_from_grid(self, timestep: int) -> Iterator[None]:
        """Make the `abar` diffusers reads at the stride timestep the grid neighbour's."""
        stride, grid = self.stride_timestep(timestep), self.grid_timestep(timestep)
        if stride == grid or (stride < 0 and grid < 0):
            yield
            return
        wanted = self.alphas_cumprod[grid] if grid >= 0 else self.final_alpha_cumprod
        name = "alphas_cumprod" if stride >= 0 else "final_alpha_cumprod"
        original = getattr(self, name)
        if stride >= 0:
            patched = original.clone()
            patched[stride] = wanted
        else:
            patched = wanted.clone()
        setattr(self, name, patched)
        try:
            yield
        finally:
            setattr(self, name, original)

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
        # diffusers' signature spelled out: pipelines pass eta and generator only to a `step`
        # whose signature names them, so `*args, **kwargs` here made DDIM ignore eta.
        with self._previous_from_grid(int(timestep)):
            return super().step(
                model_output,
                timestep,
                sample,
                eta=eta,
                use_clipped_model_output=use_clipped_model_output,
                generator=generator,
                variance_noise=variance_noise,
                return_dict=return_dict,
            )
