"""The sampler registry: turns a catalogue `SamplerSpec` into a configured diffusers scheduler.

A scheduler is built from the model's own scheduler config (its betas, prediction type,
zero-terminal-SNR flag and timestep spacing stay what the model was trained with), then the
spec's overrides, then the user's schedule options. Anything that cannot work is refused up
front with one sentence, instead of failing or producing NaN images halfway through a run.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Mapping
from functools import cache
from typing import Any, Protocol

import diffusers
import torch
from diffusers import DDPMScheduler
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from studio.core.model_kinds import misfit_sentence, model_kind_of
from studio.core.params import ScheduleOptions, Sigmas, Spacing
from studio.core.samplers import SAMPLERS, ModelKind, SamplerSpec, find_sampler
from studio.engine.amed.scheduler import AmedPluginScheduler, AmedScheduler
from studio.engine.analytic.scheduler import AnalyticDDIMScheduler, AnalyticDDPMScheduler
from studio.engine.ddim import ZeroSnrSafeDDIMScheduler
from studio.engine.scheduler_cache import SCHEDULERS

SIGMA_KEYS: dict[Sigmas, str] = {
    Sigmas.karras: "use_karras_sigmas",
    Sigmas.exponential: "use_exponential_sigmas",
    Sigmas.beta: "use_beta_sigmas",
}
SIGMA_PACKAGES: dict[Sigmas, str] = {Sigmas.beta: "scipy"}
SAMPLER_KEYS = (*SIGMA_KEYS.values(), "algorithm_type", "solver_order", "solver_type")
ZERO_SNR_ALPHA_BAR = 2.0**-24
ZERO_SNR_MISFITS: dict[str, tuple[str, str]] = {
    "KDPM2AncestralDiscreteScheduler": (
        "its ancestral step down from the near-infinite first sigma turns NaN",
        "Euler a or DPM++ 2M SDE",
    ),
    "HeunDiscreteScheduler": (
        "its second-order correction across the near-infinite first sigma blows up",
        "DPM++ 2M or UniPC",
    ),
    "KDPM2DiscreteScheduler": (
        "its midpoint evaluation between the near-infinite first sigma and the next lands far "
        "off the trajectory (colour-wrong images at 2 and 4 steps on the embedded teacher)",
        "DPM++ 2M or UniPC",
    ),
}
INTEGER_TIMESTEP_SOLVERS = frozenset(
    {
        "DPMSolverMultistepScheduler",
        "DPMSolverSinglestepScheduler",
        "UniPCMultistepScheduler",
        "DEISMultistepScheduler",
    }
)
OWN_SCHEDULERS: dict[str, type[SchedulerMixin]] = {
    "DDIMScheduler": ZeroSnrSafeDDIMScheduler,
    **{
        cls.__name__: cls
        for cls in (
            AnalyticDDIMScheduler,
            AnalyticDDPMScheduler,
            AmedScheduler,
            AmedPluginScheduler,
        )
    },
}
COLLIDE = "its rounded timesteps collide {}, and diffusers then stops with an IndexError"


class Scheduler(Protocol):
    """What the engine calls on a configured scheduler.

    diffusers' `SchedulerMixin` declares none of it: each scheduler class defines its own
    `set_timesteps`, `scale_model_input` and `step`, with its own optional arguments.
    """

    timesteps: torch.Tensor

    @property
    def init_noise_sigma(self) -> float | torch.Tensor: ...

    def set_timesteps(self, *args: Any, **kwargs: Any) -> None: ...

    def scale_model_input(
        self, sample: torch.Tensor, *args: Any, **kwargs: Any
    ) -> torch.Tensor: ...

    def step(self, *args: Any, **kwargs: Any) -> Any:
        """A SchedulerOutput-like object with `prev_sample`, or a tuple with return_dict=False."""
        ...


class SamplerError(ValueError):
    """A sampler that cannot run on this model or with these schedule options, in one sentence."""


def resolve_spec(spec_or_name: SamplerSpec | str) -> SamplerSpec:
    if isinstance(spec_or_name, SamplerSpec):
        return spec_or_name
    spec = find_sampler(spec_or_name)
    if spec is None:
        names = ", ".join(s.name for s in SAMPLERS)
        raise SamplerError(f"Unknown sampler {spec_or_name!r}: choose one of {names}.")
    return spec


def package_missing(package: str) -> bool:
    return bool(package) and importlib.util.find_spec(package) is None


def is_available(spec: SamplerSpec) -> bool:
    """Whether the spec's extra package (scipy, torchsde) is installed."""
    return not package_missing(spec.needs)


def available_samplers(kind: ModelKind | None = None) -> list[SamplerSpec]:
    """Catalogue samplers whose packages are installed, fitting `kind` when one is given."""
    return [s for s in SAMPLERS if is_available(s) and (kind is None or kind in s.kinds)]


def check_fit(spec: SamplerSpec, kind: ModelKind, model_name: str) -> None:
    """Raise SamplerError when `spec` cannot run a `kind` model or its package is missing."""
    misfit = misfit_sentence(spec, kind, model_name)
    if misfit:
        raise SamplerError(misfit)
    if package_missing(spec.needs):
        raise SamplerError(
            f"'{spec.name}' needs the {spec.needs} package, which is not installed: "
            f"pip install {spec.needs}."
        )


def scheduler_class(spec: SamplerSpec) -> Any:
    """The scheduler class of `spec`: diffusers' own, or ours built on it (DDIM gets the
    zero-SNR rounding fix of `studio.engine.ddim`)."""
    cls = OWN_SCHEDULERS.get(spec.scheduler) or getattr(diffusers, spec.scheduler, None)
    if not (isinstance(cls, type) and issubclass(cls, SchedulerMixin)):
        raise SamplerError(
            f"'{spec.name}' needs diffusers' {spec.scheduler}, which this diffusers lacks."
        )
    return cls


@cache
def init_defaults(cls: Any) -> Mapping[str, Any]:
    """The constructor parameters of a scheduler class and their default values."""
    params = inspect.signature(cls.__init__).parameters
    return {name: p.default for name, p in params.items() if name != "self"}


def _sigma_overrides(
    spec: SamplerSpec, sigmas: Sigmas, accepted: Mapping[str, Any]
) -> dict[str, Any]:
    if sigmas is Sigmas.default:
        return {}
    key = SIGMA_KEYS[sigmas]
    if key not in accepted:
        raise SamplerError(
            f"{sigmas.value.capitalize()} sigmas do not apply to {spec.name}; choose a "
            "sigma-based sampler such as Euler or DPM++ 2M."
        )
    package = SIGMA_PACKAGES.get(sigmas, "")
    if package_missing(package):
        raise SamplerError(
            f"{sigmas.value.capitalize()} sigmas need the {package} package: pip install {package}."
        )
    return {k: k == key for k in SIGMA_KEYS.values()}


def _spacing_overrides(
    spec: SamplerSpec, spacing: Spacing, accepted: Mapping[str, Any]
) -> dict[str, Any]:
    if spacing is Spacing.default:
        return {}
    if "timestep_spacing" not in accepted:
        raise SamplerError(
            f"Timestep spacing cannot be set for {spec.name}; choose a sampler such as "
            "DDIM, Euler or DPM++ 2M."
        )
    return {"timestep_spacing": spacing.value}


def _zero_snr_overrides(
    base: Mapping[str, Any], schedule: ScheduleOptions, model_name: str
) -> dict[str, Any]:
    if not schedule.rescale_zero_snr:
        return {}
    prediction = base.get("prediction_type", "epsilon")
    if prediction != "v_prediction":
        raise SamplerError(
            f"Zero-terminal-SNR rescaling needs a v-prediction model; {model_name} predicts "
            f"{prediction}."
        )
    overrides: dict[str, Any] = {"rescale_betas_zero_snr": True}
    if schedule.spacing is Spacing.default:
        overrides["timestep_spacing"] = "trailing"
    return overrides


def zero_snr_betas(config: Mapping[str, Any]) -> list[float]:
    """The model's zero-terminal-SNR betas with the last alpha-bar clamped to 2**-24.

    The clamp is what diffusers' sigma-based schedulers do internally; it keeps the largest
    sigma finite (about 4096) for schedulers that cannot rescale betas themselves.
    """
    reference = SCHEDULERS.build(DDPMScheduler, dict(config), {"rescale_betas_zero_snr": True})
    alpha_bar = reference.alphas_cumprod.to(torch.float64).clone()
    alpha_bar[-1] = ZERO_SNR_ALPHA_BAR
    previous = torch.cat([alpha_bar.new_ones(1), alpha_bar[:-1]])
    return (1.0 - alpha_bar / previous).tolist()


def is_zero_snr(config: Mapping[str, Any]) -> bool:
    """Whether the schedule ends at zero signal (rescaled betas, or trained betas ending in 1)."""
    betas = config.get("trained_betas")
    ends_at_one = bool(betas is not None and len(betas) and float(betas[-1]) >= 1.0 - 1e-6)
    return bool(config.get("rescale_betas_zero_snr")) or ends_at_one


def _check_zero_snr_fit(spec: SamplerSpec, model_name: str) -> None:
    if spec.scheduler in ZERO_SNR_MISFITS:
        reason, instead = ZERO_SNR_MISFITS[spec.scheduler]
        raise SamplerError(
            f"'{spec.name}' does not fit zero-terminal-SNR models such as {model_name}: "
            f"{reason}; choose {instead} instead."
        )


def _sigma_misfit(spec: SamplerSpec, sigmas: Sigmas, zero_snr: bool) -> tuple[str, str] | None:
    """Why `sigmas` cannot work with `spec` (and what to use instead), or None when they can."""
    integer_steps = spec.scheduler in INTEGER_TIMESTEP_SOLVERS
    if sigmas is Sigmas.beta and integer_steps:
        return COLLIDE.format("from about 40 steps on"), "use Euler or LMS for beta sigmas"
    if not zero_snr:
        return None
    if sigmas is Sigmas.beta:
        return "they spend almost every step at pure noise", "use the default or Karras sigmas"
    if integer_steps:
        return COLLIDE.format("near pure noise"), "use the default sigmas, or Euler or LMS"
    return None


def _check_sigma_fit(
    spec: SamplerSpec, overrides: Mapping[str, Any], zero_snr: bool, model_name: str
) -> None:
    sigmas = next((s for s, key in SIGMA_KEYS.items() if overrides.get(key)), Sigmas.default)
    misfit = None if sigmas is Sigmas.default else _sigma_misfit(spec, sigmas, zero_snr)
    if misfit is None:
        return
    reason, advice = misfit
    where = f"zero-terminal-SNR models such as {model_name} with " if zero_snr else ""
    raise SamplerError(
        f"{sigmas.value.capitalize()} sigmas do not fit {where}'{spec.name}': {reason}; {advice}."
    )


def scheduler_overrides(
    base_config: Mapping[str, Any],
    spec: SamplerSpec,
    schedule: ScheduleOptions,
    model_name: str = "this model",
) -> dict[str, Any]:
    """The keyword overrides for `from_config`, validated against the scheduler class.

    Sampler-defining keys (sigma kind, solver algorithm and order) start from the class
    defaults, so a model shipped with "DPM++ 2M Karras" still gets plain DPM++ 2M when asked.
    """
    accepted = init_defaults(scheduler_class(spec))
    overrides = {k: accepted[k] for k in SAMPLER_KEYS if k in accepted}
    overrides |= spec.overrides
    overrides |= _sigma_overrides(spec, schedule.sigmas, accepted)
    overrides |= _zero_snr_overrides(base_config, schedule, model_name)
    overrides |= _spacing_overrides(spec, schedule.spacing, accepted)
    merged = {**base_config, **overrides}
    zero_snr = is_zero_snr(merged)
    if zero_snr:
        _check_zero_snr_fit(spec, model_name)
    _check_sigma_fit(spec, overrides, zero_snr, model_name)
    if zero_snr and "rescale_betas_zero_snr" not in accepted:
        overrides["trained_betas"] = zero_snr_betas(merged)
    return {k: v for k, v in overrides.items() if k in accepted}


def _check_config_fit(spec: SamplerSpec, base: Mapping[str, Any], model_name: str) -> None:
    accepted = init_defaults(scheduler_class(spec))
    if base.get("use_dynamic_shifting") and "use_dynamic_shifting" not in accepted:
        raise SamplerError(
            f"'{spec.name}' has no resolution-dependent shift, which {model_name} needs; "
            "choose Flow Euler."
        )


def make_scheduler(
    base_config: Mapping[str, Any],
    spec_or_name: SamplerSpec | str,
    schedule: ScheduleOptions | None = None,
    kind: ModelKind | None = None,
    *,
    model_name: str = "this model",
) -> Scheduler:
    """A fresh scheduler for `spec_or_name`, configured for the model whose config is given
    (a copy of the same build kept from an earlier call, see `studio.engine.scheduler_cache`)."""
    spec = resolve_spec(spec_or_name)
    schedule = schedule or ScheduleOptions()
    kind = kind or model_kind_of(base_config)
    check_fit(spec, kind, model_name)
    _check_config_fit(spec, base_config, model_name)
    overrides = scheduler_overrides(base_config, spec, schedule, model_name)
    cls = scheduler_class(spec)
    accepted = init_defaults(cls)
    config = {k: v for k, v in base_config.items() if k in accepted or k.startswith("_")}
    return SCHEDULERS.build(cls, config, overrides)


def fitting_samplers(
    base_config: Mapping[str, Any], schedule: ScheduleOptions | None = None
) -> list[SamplerSpec]:
    """The installed samplers that `make_scheduler` accepts for this model and schedule."""
    fitting = []
    for spec in available_samplers(model_kind_of(base_config)):
        try:
            make_scheduler(base_config, spec, schedule)
        except SamplerError:
            continue
        fitting.append(spec)
    return fitting
