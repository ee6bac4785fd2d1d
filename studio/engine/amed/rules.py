"""How a plan's intervals are crossed: AMED's own mean-value step, or the AMED-Plugin on a
multistep solver. The scheduler (sampling) and the fit's walker (training) share these rules.

An interval is either plain (`StepKind.ddim`: one evaluation) or learned (an evaluation at its
start, an intermediate point `mid` picked by the predictor, a second evaluation there, then a
landing on the next grid point scaled by `c`). A rule answers the three moves: `plain`, `to_mid`
and `land`. AMED pairs its evaluations in learned intervals; the plugin's plan (`plan`) learns
only its last interval.

The AMED-Plugin (Zhou et al., CVPR 2024, section 3.4: "AMED-Plugin") keeps the learned `mid` and
`c` but lets a multistep base solver take every move, with every evaluation, at grid points and
at intermediate points, in its history. The base here is DPM-Solver++ 2M in data prediction with
variable steps: with `y = x / a`, the current point (sigma, x0) and the one before
(sigma_prev, x0_prev),

    y_next = (sigma_next / sigma) y + c (1 - sigma_next / sigma) D,
    D = x0 + (x0 - x0_prev) h / (2 h_prev),  h = log(sigma / sigma_next),
    h_prev = log(sigma_prev / sigma),

first order (D = x0) after the first evaluation (whose sigma is infinite) and on the step to
sigma 0 (h is infinite there; diffusers' lower-order final step). The first interval starts at the
infinite sigma and is a DDIM step, as for AMED. With r = 1/2 and c = 1 (the untrained predictor)
the plugin is DPM-Solver++ 2M on the grid with the geometric midpoints added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch

from studio.engine.amed.plan import (
    AmedPlan,
    Variant,
    amed_update,
    ddim_step,
    per_sample,
    to_mid,
)


class StepRule(Protocol):
    """The moves of one solver along an `AmedPlan`; rules with a history start afresh per run."""

    def plain(
        self, x: torch.Tensor, eps: torch.Tensor, x0: torch.Tensor, interval: int
    ) -> torch.Tensor: ...

    def to_mid(
        self,
        x: torch.Tensor,
        eps: torch.Tensor,
        x0: torch.Tensor,
        interval: int,
        mid: torch.Tensor,
    ) -> torch.Tensor: ...

    def land(
        self,
        start: torch.Tensor,
        x_mid: torch.Tensor,
        eps_mid: torch.Tensor,
        x0_mid: torch.Tensor,
        interval: int,
        mid: torch.Tensor,
        scale: torch.Tensor,
    ) -> torch.Tensor: ...

    def detach(self) -> None: ...


class MeanValueRule:
    """AMED's own steps: Euler in y to the intermediate point, then from the interval's start
    along the intermediate direction, scaled."""

    def __init__(self, plan: AmedPlan) -> None:
        self.plan = plan

    def plain(
        self, x: torch.Tensor, eps: torch.Tensor, x0: torch.Tensor, interval: int
    ) -> torch.Tensor:
        return ddim_step(eps, x0, self.plan.sigmas[interval + 1])

    def to_mid(
        self,
        x: torch.Tensor,
        eps: torch.Tensor,
        x0: torch.Tensor,
        interval: int,
        mid: torch.Tensor,
    ) -> torch.Tensor:
        return to_mid(x, eps, self.plan.sigmas[interval], mid)

    def land(
        self,
        start: torch.Tensor,
        x_mid: torch.Tensor,
        eps_mid: torch.Tensor,
        x0_mid: torch.Tensor,
        interval: int,
        mid: torch.Tensor,
        scale: torch.Tensor,
    ) -> torch.Tensor:
        sigma, sigma_next = self.plan.sigmas[interval], self.plan.sigmas[interval + 1]
        return amed_update(start, eps_mid, sigma, sigma_next, scale)

    def detach(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Point:
    """One evaluation in a multistep history: its sigma per sample (a column) and its x0."""

    sigma: torch.Tensor
    x0: torch.Tensor


def column(value: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    """`value` (a number, or one per sample) shaped to broadcast over `like`'s samples."""
    if isinstance(value, torch.Tensor):
        return per_sample(value.expand(len(like)) if value.ndim == 0 else value, like)
    shape = (len(like),) + (1,) * (like.ndim - 1)
    return torch.full(shape, value, dtype=like.dtype, device=like.device)


def second_order_weight(prev: Point, cur: Point, sigma_next: torch.Tensor) -> torch.Tensor | None:
    """h / (2 h_prev) of DPM-Solver++ 2M, or None where the step must be first order."""
    if not bool(torch.isfinite(prev.sigma).all()) or bool((sigma_next <= 0).any()):
        return None
    h = torch.log(cur.sigma / sigma_next)
    h_prev = torch.log(prev.sigma / cur.sigma)
    return h / (2.0 * h_prev)


def multistep_step(
    x: torch.Tensor,
    history: list[Point],
    sigma_next: torch.Tensor,
    scale: torch.Tensor | float = 1.0,
) -> torch.Tensor:
    """x at `sigma_next` from x at the last history point (finite sigma): DPM-Solver++ 2M."""
    cur = history[-1]
    direction = cur.x0
    if len(history) > 1:
        weight = second_order_weight(history[-2], cur, sigma_next)
        if weight is not None:
            direction = cur.x0 + weight * (cur.x0 - history[-2].x0)
    ratio = sigma_next / cur.sigma
    y = x * torch.sqrt(1.0 + cur.sigma * cur.sigma)
    y_next = ratio * y + scale * (1.0 - ratio) * direction
    return y_next * torch.rsqrt(1.0 + sigma_next * sigma_next)


class MultistepRule:
    """The AMED-Plugin on DPM-Solver++ 2M: every evaluation joins one history of two points."""

    def __init__(self, plan: AmedPlan) -> None:
        self.plan = plan
        self.history: list[Point] = []

    def _record(self, sigma: torch.Tensor | float, x0: torch.Tensor) -> None:
        self.history = [*self.history[-1:], Point(column(sigma, x0), x0)]

    def _next_sigma(self, interval: int, like: torch.Tensor) -> torch.Tensor:
        return column(self.plan.sigmas[interval + 1], like)

    def plain(
        self, x: torch.Tensor, eps: torch.Tensor, x0: torch.Tensor, interval: int
    ) -> torch.Tensor:
        sigma = self.plan.sigmas[interval]
        self._record(sigma, x0)
        if math.isinf(sigma):
            return ddim_step(eps, x0, self.plan.sigmas[interval + 1])
        return multistep_step(x, self.history, self._next_sigma(interval, x))

    def to_mid(
        self,
        x: torch.Tensor,
        eps: torch.Tensor,
        x0: torch.Tensor,
        interval: int,
        mid: torch.Tensor,
    ) -> torch.Tensor:
        self._record(self.plan.sigmas[interval], x0)
        return multistep_step(x, self.history, column(mid, x))

    def land(
        self,
        start: torch.Tensor,
        x_mid: torch.Tensor,
        eps_mid: torch.Tensor,
        x0_mid: torch.Tensor,
        interval: int,
        mid: torch.Tensor,
        scale: torch.Tensor,
    ) -> torch.Tensor:
        self._record(mid, x0_mid)
        next_sigma = self._next_sigma(interval, x_mid)
        return multistep_step(x_mid, self.history, next_sigma, column(scale, x_mid))

    def detach(self) -> None:
        self.history = [Point(p.sigma.detach(), p.x0.detach()) for p in self.history]


def make_rule(plan: AmedPlan) -> StepRule:
    """The rule of the plan's variant, with an empty history."""
    if plan.variant is Variant.plugin:
        return MultistepRule(plan)
    return MeanValueRule(plan)
