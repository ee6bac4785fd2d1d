"""Capturing each scheduler step so the predicted clean image (x0) can be previewed."""

from __future__ import annotations

import functools
from typing import Any

import torch


class SchedulerTap:
    """Wraps one scheduler's `step` while active, keeping the last step's tensors (no copies).

    The wrapper shows the wrapped signature, so pipelines that look for `eta` and `generator`
    in `inspect.signature(scheduler.step)` still pass them.
    """

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        self._step = scheduler.step
        self.last: tuple[torch.Tensor, Any, torch.Tensor, Any, float | None] | None = None

    def __enter__(self) -> SchedulerTap:
        @functools.wraps(self._step)
        def step(*args: Any, **kwargs: Any) -> Any:
            return self._tapped(*args, **kwargs)

        self.scheduler.step = step
        return self

    def __exit__(self, *exc: object) -> None:
        self.scheduler.__dict__.pop("step", None)

    def _tapped(self, model_output, timestep, sample, *args, return_dict: bool = True, **kwargs):
        sigma = _flow_sigma(self.scheduler)
        out = self._step(model_output, timestep, sample, *args, return_dict=True, **kwargs)
        self.last = (model_output, timestep, sample, out, sigma)
        return out if return_dict else out.to_tuple()

    def x0(self) -> torch.Tensor | None:
        """The last step's predicted clean sample, in the pipeline's latent space."""
        if self.last is None:
            return None
        model_output, timestep, sample, out, sigma = self.last
        for name in ("pred_original_sample", "denoised"):
            value = getattr(out, name, None)
            if isinstance(value, torch.Tensor):
                return value
        if sigma is not None:
            return sample - sigma * model_output
        return _vp_x0(self.scheduler, model_output, timestep, sample)


def _flow_sigma(scheduler: Any) -> float | None:
    if "FlowMatch" not in type(scheduler).__name__:
        return None
    index = scheduler.step_index if scheduler.step_index is not None else 0
    return float(scheduler.sigmas[min(index, len(scheduler.sigmas) - 1)])


def _vp_x0(scheduler: Any, model_output, timestep, sample) -> torch.Tensor | None:
    abar_table = getattr(scheduler, "alphas_cumprod", None)
    if abar_table is None:
        return None
    t = round(float(timestep))
    abar = abar_table[max(0, min(t, len(abar_table) - 1))].to(sample.device, torch.float32)
    a, s = abar.sqrt(), (1 - abar).sqrt()
    kind = scheduler.config.get("prediction_type", "epsilon")
    x, out = sample.float(), model_output.float()
    if kind == "v_prediction":
        return a * x - s * out
    if kind == "sample":
        return out
    return (x - s * out) / a.clamp(min=1e-4)
