"""The AMED-Solver's time grid and step maths on a discrete VP schedule, with no learned parts.

In EDM form, `sigma = s_t / a_t` and `y = x_t / a_t`, the probability-flow ODE is
`dy/dsigma = eps(y, sigma)`. One AMED step from `sigma_n` to `sigma_{n+1}` evaluates `eps` at
`y_n`, takes an Euler step to `s_n = sigma_n**r * sigma_{n+1}**(1 - r)`, evaluates there and moves
`y_{n+1} = y_n + c * (sigma_{n+1} - sigma_n) * eps(y_s, s_n)`: the mean-value theorem with the
intermediate time `r` and the scale `c` learned (`predictor`). On the last step, which ends at
sigma 0, the geometric mean would collapse to 0 whatever r is, so there `s_n = r * sigma_n`.

NFE are counted honestly: every model evaluation is one. The first step always costs one
evaluation and is a DDIM step (an Euler step in y): a zero-terminal-SNR model starts at an
infinite sigma, where y is undefined but DDIM from the x0 prediction is exact (there the model's
noise is the sample itself), so this is the "start from the x0 prediction" choice of the sources,
not the paper's analytical first step. The remaining NFE - 1 evaluations make (NFE - 1) // 2 AMED
steps; when NFE is even, one evaluation is left over and spent on a second DDIM step right after
the first, at high noise, where the trajectory is nearly straight (spent on the last step
instead, it left one large DDIM step to the clean image: 1.5 dB worse at NFE 8).
The grid starts at the last training timestep T and ends at the clean sample, one interval per
step, with `t_i = T * (1 - i/n) ** GRID_POWER`: denser at high noise than time-uniform. Chosen
on the emoji teacher (three prompts, PSNR to DPM++ 2M at 400 steps, r fixed at 0.6): power 1
(time-uniform) gave 19.2 / 19.2 / 20.3 / 21.3 dB at NFE 4 / 5 / 6 / 8, power 0.3 gave
23.0 / 23.2 / 25.0 / 26.6 dB; 0.2 and 0.4 were worse than 0.3. The AMED-Plugin (`rules`) adds
its intermediate point to the grid as an evaluation of its own, and needs no pairs: its plan is
NFE - 1 intervals, all plain multistep steps but the last, the only learned one (where the final
x0-prediction is taken). On six dataset prompts (PSNR to DPM++ 2M at 1000 steps, r = 1/2) that
gave 22.4 / 24.1 / 25.0 dB at NFE 4 / 5 / 6 against 22.4 / 23.0 / 23.9 dB for AMED's pairs of
evaluations; grid power 0.2 was best for both (0.3: 21.5 / 23.5 / 24.8 dB). One power does not
suit every NFE and image, though (on the smooth noto default prompt 0.35 beat 0.2 by 1.9 to 3.4
dB at NFE 4 to 8 with r = 1/2), so the plugin's fit picks its power per NFE from
`PLUGIN_POWER_CHOICES` on its own rows: the power whose plugin, still at r = 1/2 and c = 1, ends
nearest the reference (`fit`); `make_plan` takes it as `power`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import torch

MIN_NFE = 3
GRID_POWER = 0.3
PLUGIN_GRID_POWER = 0.2
PLUGIN_POWER_CHOICES = (0.2, 0.3, 0.4, 0.5)


class Variant(StrEnum):
    """Which solver the learned intermediate points steer: AMED's own, or the AMED-Plugin."""

    solver = "amed"
    plugin = "plugin"


GRID_POWERS = {Variant.solver: GRID_POWER, Variant.plugin: PLUGIN_GRID_POWER}


class StepKind(StrEnum):
    """How one interval of the grid is crossed."""

    ddim = "ddim"
    amed = "amed"


@dataclass(frozen=True, slots=True)
class Slot:
    """One model evaluation of a plan: the interval it belongs to and, for AMED, which half."""

    interval: int
    second: bool = False


@dataclass(frozen=True, slots=True)
class AmedPlan:
    """One AMED grid: timesteps (-1 = clean), sigmas, and how each interval is crossed."""

    nfe: int
    timesteps: tuple[int, ...]
    sigmas: tuple[float, ...]
    kinds: tuple[StepKind, ...]
    variant: Variant = Variant.solver

    @property
    def slots(self) -> tuple[Slot, ...]:
        out: list[Slot] = []
        for i, kind in enumerate(self.kinds):
            out.append(Slot(i))
            if kind is StepKind.amed:
                out.append(Slot(i, second=True))
        return tuple(out)

    @property
    def amed_intervals(self) -> tuple[int, ...]:
        return tuple(i for i, k in enumerate(self.kinds) if k is StepKind.amed)


def check_nfe(nfe: int) -> None:
    if nfe < MIN_NFE:
        raise ValueError(
            f"AMED needs at least {MIN_NFE} model evaluations (one DDIM step, then one AMED step "
            f"of two); {nfe} were asked for."
        )


def step_kinds(nfe: int, variant: Variant = Variant.solver) -> tuple[StepKind, ...]:
    check_nfe(nfe)
    if variant is Variant.plugin:
        return (*[StepKind.ddim] * (nfe - 2), StepKind.amed)
    amed_steps, spare = divmod(nfe - 1, 2)
    return (StepKind.ddim, *[StepKind.ddim] * spare, *[StepKind.amed] * amed_steps)


def sigma_table(alphas_cumprod: torch.Tensor) -> np.ndarray:
    """sigma at each training timestep (inf where alpha-bar is 0)."""
    abar = alphas_cumprod.double().cpu().numpy()
    with np.errstate(divide="ignore"):
        return np.sqrt((1.0 - abar) / abar)


def make_plan(
    alphas_cumprod: torch.Tensor,
    nfe: int,
    variant: Variant = Variant.solver,
    power: float | None = None,
) -> AmedPlan:
    """The grid for `nfe` evaluations on this schedule (see the module docstring), with the
    variant's grid power unless `power` is given (the plugin's fit picks one per NFE)."""
    kinds = step_kinds(nfe, variant)
    last = len(alphas_cumprod) - 1
    u = np.arange(len(kinds)) / len(kinds)
    exponent = GRID_POWERS[variant] if power is None else power
    if not 0.0 < exponent <= 1.0:
        raise ValueError(f"An AMED grid power lies in (0, 1], not {exponent}.")
    points = np.round(last * (1.0 - u) ** exponent).astype(np.int64)
    timesteps = (*(int(t) for t in points), -1)
    table = sigma_table(alphas_cumprod)
    sigmas = (*(float(table[t]) for t in points), 0.0)
    return AmedPlan(nfe=nfe, timesteps=timesteps, sigmas=sigmas, kinds=kinds, variant=variant)


def timestep_of(sigma: torch.Tensor, table: np.ndarray) -> torch.Tensor:
    """The continuous training timestep whose sigma is `sigma` (log-sigma interpolated)."""
    finite = np.isfinite(table)
    steps = np.arange(len(table), dtype=np.float64)[finite]
    logs = np.log(table[finite])
    log_sigma = sigma.detach().double().clamp_min(1e-12).log().cpu().numpy()
    t = np.interp(log_sigma, logs, steps)
    out = torch.as_tensor(t, dtype=torch.float32, device=sigma.device)
    # The interpolation itself carries no gradient: the time input moves with sigma through
    # the local slope dt/dlog(sigma), so the predictor's r still reaches the second evaluation.
    slope = np.gradient(steps, logs) if len(steps) > 1 else np.ones_like(steps)
    local = torch.as_tensor(np.interp(log_sigma, logs, slope), dtype=torch.float32).to(out)
    if sigma.requires_grad:
        log_s = sigma.clamp_min(1e-12).log().to(out)
        out = out + local * (log_s - log_s.detach())
    return out


def coefficients(sigma: torch.Tensor | float) -> tuple[torch.Tensor | float, torch.Tensor | float]:
    """(a, s) of x = a x0 + s eps for this sigma; (0, 1) at an infinite sigma."""
    if isinstance(sigma, float):
        if math.isinf(sigma):
            return 0.0, 1.0
        scale = 1.0 / math.sqrt(1.0 + sigma * sigma)
        return scale, sigma * scale
    a = torch.rsqrt(1.0 + sigma * sigma)
    return a, sigma * a


def split_output(
    output: torch.Tensor, x: torch.Tensor, sigma: torch.Tensor | float, prediction: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(eps, x0) from a model output of the given prediction type at this sigma."""
    a, s = coefficients(sigma)
    if prediction == "v_prediction":
        return a * output + s * x, a * x - s * output
    if prediction == "epsilon":
        return output, (x - s * output) / a
    if prediction == "sample":
        return (x - a * output) / s, output
    raise ValueError(f"AMED cannot use a model that predicts {prediction!r}.")


def ddim_step(eps: torch.Tensor, x0: torch.Tensor, sigma_next: float) -> torch.Tensor:
    a, s = coefficients(sigma_next)
    return a * x0 + s * eps


def mid_sigma(r: torch.Tensor, sigma: float, sigma_next: float) -> torch.Tensor:
    """The intermediate sigma of an AMED step for each sample's r in (0, 1)."""
    if sigma_next <= 0.0:
        return r * sigma
    return torch.exp(r * math.log(sigma) + (1.0 - r) * math.log(sigma_next))


def per_sample(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return value.reshape(-1, *([1] * (like.ndim - 1))).to(like.dtype)


def to_mid(x: torch.Tensor, eps: torch.Tensor, sigma: float, s_mid: torch.Tensor) -> torch.Tensor:
    """x at the intermediate sigma after an Euler step in y from x at `sigma`."""
    y = x * math.sqrt(1.0 + sigma * sigma)
    s = per_sample(s_mid, x)
    y_mid = y + (s - sigma) * eps
    return y_mid * torch.rsqrt(1.0 + s * s)


def amed_update(
    x: torch.Tensor, eps_mid: torch.Tensor, sigma: float, sigma_next: float, c: torch.Tensor
) -> torch.Tensor:
    """x at `sigma_next`: the step from x at `sigma` along the intermediate direction, scaled."""
    y = x * math.sqrt(1.0 + sigma * sigma)
    y_next = y + per_sample(c, x) * (sigma_next - sigma) * eps_mid
    return y_next / math.sqrt(1.0 + sigma_next * sigma_next)
