"""Generation parameters and their validation, before anything reaches a device."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import StrEnum

from studio.core.models import OTHER_SIDE
from studio.core.samplers import SAMPLER_NAMES, find_sampler
from studio.core.skip_tuning import SkipTuning
from studio.core.wording import is_unicode, shown

MIN_SIZE = 8
MAX_SIZE = 2048
MAX_STEPS = 1000
MAX_SEED = 2**32 - 1
MAX_BATCH = 16
MAX_GUIDANCE = 100.0
MAX_CLASSIFIER_SCALE = 100.0
MAX_PROMPT_CHARS = 4000


class Sigmas(StrEnum):
    """Which noise levels a sigma-based sampler walks through."""

    default = "default"
    karras = "karras"
    exponential = "exponential"
    beta = "beta"


class Spacing(StrEnum):
    """How the discrete timesteps are picked from the training range."""

    default = "default"
    leading = "leading"
    linspace = "linspace"
    trailing = "trailing"


class ValidationError(ValueError):
    """One or more bad values, each described by one sentence."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(" ".join(problems))


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleOptions:
    """Overrides of the sampler's noise schedule (Karras sigmas, spacing, zero-terminal-SNR)."""

    sigmas: Sigmas = Sigmas.default
    spacing: Spacing = Spacing.default
    rescale_zero_snr: bool = False

    def is_default(self) -> bool:
        return self == ScheduleOptions()


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerationParams:
    """Everything that determines one image: prompt, recipe, seed and size."""

    prompt: str = ""
    negative_prompt: str = ""
    sampler: str = "DPM++ 2M"
    num_inference_steps: int = 20
    guidance_scale: float = 5.0
    eta: float = 0.0
    classifier_scale: float = 0.0
    seed: int = 0
    width: int = OTHER_SIDE
    height: int = OTHER_SIDE
    batch_size: int = 1
    schedule: ScheduleOptions = field(default_factory=ScheduleOptions)
    skip_tuning: SkipTuning = field(default_factory=SkipTuning)

    def with_(self, **changes: object) -> GenerationParams:
        # Callers name any field; each value's type is checked by `problems()`, not here.
        return replace(self, **changes)  # type: ignore[arg-type]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _size_problems(label: str, value: object) -> list[str]:
    if not _is_int(value):
        return [f"The {label} must be a whole number of pixels, not {shown(value)}."]
    assert isinstance(value, int)
    if not MIN_SIZE <= value <= MAX_SIZE:
        return [f"The {label} {shown(value)} is out of range: use {MIN_SIZE} to {MAX_SIZE} pixels."]
    if value % 8:
        return [f"The {label} {value} is not a multiple of 8: try {max(8, value // 8 * 8)}."]
    return []


def _range_problem(label: str, value: object, low: float, high: float, whole: bool) -> list[str]:
    ok_type = _is_int(value) if whole else _is_number(value)
    if not ok_type:
        kind = "a whole number" if whole else "a number"
        return [f"The {label} must be {kind}, not {shown(value)}."]
    assert isinstance(value, int | float)
    if (isinstance(value, float) and not math.isfinite(value)) or not low <= value <= high:
        lo, hi = (int(low), int(high)) if whole else (f"{low:g}", f"{high:g}")
        return [f"The {label} {shown(value)} is out of range: use {lo} to {hi}."]
    return []


def _text_problems(label: str, value: object) -> list[str]:
    if not isinstance(value, str):
        return [f"The {label} must be text, not {type(value).__name__}."]
    if len(value) > MAX_PROMPT_CHARS:
        return [
            f"The {label} is {len(value)} characters long: keep it to at most {MAX_PROMPT_CHARS}."
        ]
    if "\x00" in value:
        return [f"The {label} contains a NUL character."]
    if not is_unicode(value):
        return [f"The {label} holds a broken character (a lone surrogate): retype or re-paste it."]
    return []


def _sampler_problems(name: object, steps: object) -> list[str]:
    spec = find_sampler(name) if isinstance(name, str) else None
    if spec is None:
        return [f"Unknown sampler {shown(name)}: choose one of {', '.join(SAMPLER_NAMES)}."]
    if isinstance(steps, int) and 0 < steps < spec.min_steps:
        return [f"{spec.name} needs at least {spec.min_steps} steps; {steps} were asked for."]
    return []


def _guidance_problems(value: object) -> list[str]:
    if _is_number(value) and isinstance(value, int | float) and value < 0:
        return [f"The guidance scale {shown(value)} is negative: use 0 (off) to {MAX_GUIDANCE:g}."]
    return _range_problem("guidance scale", value, 0.0, MAX_GUIDANCE, whole=False)


def problems(params: GenerationParams) -> list[str]:
    """Every problem with `params`, one sentence each; empty when they are valid."""
    found: list[str] = []
    found += _text_problems("prompt", params.prompt)
    found += _text_problems("negative prompt", params.negative_prompt)
    found += _sampler_problems(params.sampler, params.num_inference_steps)
    found += _range_problem("number of steps", params.num_inference_steps, 1, MAX_STEPS, True)
    found += _guidance_problems(params.guidance_scale)
    found += _range_problem("eta", params.eta, 0.0, 1.0, whole=False)
    found += _range_problem(
        "classifier guidance scale", params.classifier_scale, 0.0, MAX_CLASSIFIER_SCALE, False
    )
    found += _range_problem("seed", params.seed, 0, MAX_SEED, whole=True)
    found += _size_problems("width", params.width)
    found += _size_problems("height", params.height)
    found += _range_problem("batch size", params.batch_size, 1, MAX_BATCH, whole=True)
    if not isinstance(params.schedule, ScheduleOptions):
        found.append("The schedule options must be a ScheduleOptions value.")
    if isinstance(params.skip_tuning, SkipTuning):
        found += params.skip_tuning.problems()
    else:
        found.append("The Skip-Tuning options must be a SkipTuning value.")
    return found


def validate(params: GenerationParams) -> GenerationParams:
    """Return `params` unchanged, or raise ValidationError listing every bad value."""
    found = problems(params)
    if found:
        raise ValidationError(found)
    return params
