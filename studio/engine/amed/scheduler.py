"""The AMED-Solver as a diffusers scheduler, for any VP pipeline with a UNet.

A pipeline calls the model once per entry of `timesteps` and `step` after each call, so one AMED
step spans two entries. Its second evaluation is at an intermediate time that the predictor picks
per sample from the first evaluation's bottleneck features, which the pipeline cannot know in
advance: `solver_hooks` taps the UNet's mid block for the features and gives the second call its
per-sample timesteps. Without the hooks the scheduler refuses to run an AMED step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from diffusers import DDIMScheduler
from diffusers.schedulers.scheduling_ddim import DDIMSchedulerOutput

from studio.engine.amed.plan import (
    AmedPlan,
    StepKind,
    Variant,
    make_plan,
    mid_sigma,
    per_sample,
    sigma_table,
    split_output,
    timestep_of,
)
from studio.engine.amed.predictor import AmedPredictor
from studio.engine.amed.rules import StepRule, make_rule


class MissingPredictor(RuntimeError):
    """An AMED scheduler asked to run without a predictor for its NFE, or without its hooks."""


class AmedScheduler(DDIMScheduler):
    """Steps along an `AmedPlan`: DDIM steps and AMED steps of two evaluations each.

    `num_inference_steps` is the number of model evaluations (NFE), not of steps.
    """

    order = 1
    variant = Variant.solver
    plan: AmedPlan | None = None
    rule: StepRule | None = None
    hooked = False
    features: torch.Tensor | None = None
    pending_timesteps: torch.Tensor | None = None
    _index = 0
    _start: torch.Tensor | None = None
    _mid: torch.Tensor | None = None
    _scale: torch.Tensor | None = None
    _sigmas: np.ndarray | None = None

    # No __init__ of its own: diffusers reads the constructor's signature for from_config.
    @property
    def predictors(self) -> dict[int, AmedPredictor]:
        return self.__dict__.setdefault("_predictors", {})

    @property
    def grid_powers(self) -> dict[int, float]:
        return self.__dict__.setdefault("_grid_powers", {})

    def use_predictor(
        self, nfe: int, predictor: AmedPredictor, grid_power: float | None = None
    ) -> None:
        """Sample `nfe` evaluations with `predictor`, on the grid power it was trained for
        (None: the variant's default)."""
        self.predictors[nfe] = predictor.eval().requires_grad_(False)
        if grid_power is None:
            self.grid_powers.pop(nfe, None)
        else:
            self.grid_powers[nfe] = grid_power

    def set_timesteps(
        self, num_inference_steps: int | None = None, device: Any = None, **_: Any
    ) -> None:
        if num_inference_steps is None:
            raise ValueError("AMED takes its number of model evaluations as num_inference_steps.")
        power = self.grid_powers.get(num_inference_steps)
        self.plan = make_plan(self.alphas_cumprod, num_inference_steps, self.variant, power)
        self.rule = make_rule(self.plan)
        self._sigmas = sigma_table(self.alphas_cumprod)
        self.num_inference_steps = num_inference_steps  # type: ignore[assignment]
        stamps = []
        for slot in self.plan.slots:
            t, t_next = self.plan.timesteps[slot.interval], self.plan.timesteps[slot.interval + 1]
            stamps.append((t + max(t_next, 0)) // 2 if slot.second else t)
        self.timesteps = torch.tensor(stamps, dtype=torch.int64, device=device)
        self._index = 0
        self.pending_timesteps = None

    def _predictor(self, nfe: int) -> AmedPredictor:
        predictor = self.predictors.get(nfe)
        if predictor is None:
            raise MissingPredictor(f"AMED has no predictor for {nfe} evaluations on this model.")
        if not self.hooked:
            raise MissingPredictor("AMED steps need the model hooks of solver_hooks().")
        return predictor

    def step(
        self,
        model_output: torch.Tensor,
        timestep: Any,
        sample: torch.Tensor,
        *args: Any,
        return_dict: bool = True,
        **kwargs: Any,
    ) -> DDIMSchedulerOutput | tuple:
        plan, rule = self.plan, self.rule
        if plan is None or rule is None:
            raise ValueError("Call set_timesteps before step.")
        slot = plan.slots[self._index]
        i = slot.interval
        prediction = self.config["prediction_type"]
        out, x = model_output.float(), sample.float()
        if slot.second:
            assert self._start is not None and self._mid is not None and self._scale is not None
            eps, x0 = split_output(out, x, per_sample(self._mid, x), prediction)
            prev = rule.land(self._start, x, eps, x0, i, self._mid, self._scale)
            self.pending_timesteps = None
        else:
            eps, x0 = split_output(out, x, plan.sigmas[i], prediction)
            if plan.kinds[i] is StepKind.ddim:
                prev = rule.plain(x, eps, x0, i)
            else:
                prev = self._first_half(x, eps, x0, i)
        self._index += 1
        prev_sample, x0 = prev.to(sample.dtype), x0.to(sample.dtype)
        if not return_dict:
            return prev_sample, x0
        return DDIMSchedulerOutput(prev_sample=prev_sample, pred_original_sample=x0)

    def _first_half(
        self, x: torch.Tensor, eps: torch.Tensor, x0: torch.Tensor, interval: int
    ) -> torch.Tensor:
        plan, rule = self.plan, self.rule
        assert plan is not None and rule is not None
        predictor = self._predictor(plan.nfe)
        if self.features is None:
            raise MissingPredictor("AMED saw no bottleneck features: is the model a UNet?")
        features = self.features[-len(x) :]
        t, t_next = plan.timesteps[interval], plan.timesteps[interval + 1]
        sigma, sigma_next = plan.sigmas[interval], plan.sigmas[interval + 1]
        with torch.no_grad():
            r, c = predictor(features.to(x.device), t, t_next)
        mid = mid_sigma(r.to(x.device), sigma, sigma_next)
        self._start, self._mid, self._scale = x, mid, c.to(x.device)
        assert self._sigmas is not None
        self.pending_timesteps = timestep_of(mid, self._sigmas)
        return rule.to_mid(x, eps, x0, interval, mid)

    def timesteps_for(self, batch: int, like: torch.Tensor) -> torch.Tensor | None:
        """The per-sample timesteps the next model call must use, repeated over its batch."""
        pending = self.pending_timesteps
        if pending is None:
            return None
        repeats = max(1, batch // len(pending))
        return pending.repeat(repeats).to(like.device)


class AmedPluginScheduler(AmedScheduler):
    """The AMED-Plugin on DPM-Solver++ 2M (`rules`): the same plan and predictor hooks, every
    evaluation in one multistep history. `num_inference_steps` is the NFE."""

    variant = Variant.plugin


def pooled(output: Any) -> torch.Tensor:
    tensor = output[0] if isinstance(output, tuple) else output
    return tensor.detach().float().mean(dim=(2, 3))


@contextlib.contextmanager
def solver_hooks(scheduler: Any, unet: torch.nn.Module) -> Iterator[None]:
    """While active, an AMED scheduler sees the UNet's bottleneck and sets its call times;
    any other scheduler is left alone."""
    if not isinstance(scheduler, AmedScheduler):
        yield
        return
    mid = getattr(unet, "mid_block", None)
    if mid is None:
        raise MissingPredictor(
            f"AMED needs a UNet with a mid block; this is {type(unet).__name__}."
        )

    def keep(module: torch.nn.Module, args: Any, output: Any) -> None:
        scheduler.features = pooled(output)

    def retime(module: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        x = args[0] if args else kwargs["sample"]
        t = scheduler.timesteps_for(len(x), x)
        if t is None:
            return None
        if len(args) > 1:
            return (args[0], t, *args[2:]), kwargs
        return args, {**kwargs, "timestep": t}

    handles = [
        mid.register_forward_hook(keep),
        unet.register_forward_pre_hook(retime, with_kwargs=True),
    ]
    scheduler.hooked = True
    try:
        yield
    finally:
        scheduler.hooked = False
        scheduler.features = None
        for handle in handles:
            handle.remove()
