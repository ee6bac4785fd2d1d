"""Warnings for recipes that are valid but make no sense, one sentence each.

These never block a run (validation in `params` does that); they tell the user that a control
has no effect or works against the model, before they wait for a disappointing image.
"""

from __future__ import annotations

from studio.core.emoji_vocabulary import out_of_vocabulary_message
from studio.core.model_kinds import UNKNOWN, ModelFacts, is_consistency_sampler
from studio.core.params import GenerationParams, ScheduleOptions, Sigmas, Spacing
from studio.core.samplers import SamplerSpec, find_sampler

FEW_STEP_LIMIT = 8
SIGMA_SCHEDULERS = frozenset(
    {
        "EulerDiscreteScheduler",
        "HeunDiscreteScheduler",
        "LMSDiscreteScheduler",
        "KDPM2DiscreteScheduler",
        "KDPM2AncestralDiscreteScheduler",
        "DPMSolverMultistepScheduler",
        "DPMSolverSinglestepScheduler",
        "DPMSolverSDEScheduler",
        "UniPCMultistepScheduler",
        "DEISMultistepScheduler",
        "FlowMatchEulerDiscreteScheduler",
    }
)
NEGATIVE_IGNORED = "The negative prompt is ignored: guidance is off (CFG <= 1)."


def _guidance_warnings(params: GenerationParams, guidance_distilled: bool) -> list[str]:
    found: list[str] = []
    if params.negative_prompt.strip() and params.guidance_scale <= 1:
        found.append(NEGATIVE_IGNORED)
    if guidance_distilled and params.guidance_scale > 1:
        found.append(
            f"CFG {params.guidance_scale:g} on a guidance-distilled model stacks guidance on the"
            " guidance built in, at twice the work: its recipe is CFG 1."
        )
    if 0 < params.guidance_scale < 1:
        found.append(
            f"CFG {params.guidance_scale:g} does the same as CFG 1: guidance below 1 is off."
        )
    return found


def _sampler_warnings(params: GenerationParams, spec: SamplerSpec, uses_eta: bool) -> list[str]:
    found: list[str] = []
    if params.eta != 0 and not uses_eta:
        found.append(f"Eta {params.eta:g} is ignored: {spec.name} does not use eta.")
    sigmas = params.schedule.sigmas
    if sigmas != Sigmas.default and spec.scheduler not in SIGMA_SCHEDULERS:
        found.append(
            f"{Sigmas(sigmas).value.capitalize()} sigmas do not apply to {spec.name}: choose a"
            " sigma-based sampler such as Euler or DPM++ 2M."
        )
    return found


def _consistency_warnings(
    params: GenerationParams, spec: SamplerSpec, model: ModelFacts
) -> list[str]:
    """LCM and TCD: made for 1 to 8 steps of a model distilled for them."""
    if not is_consistency_sampler(spec):
        return []
    found: list[str] = []
    if model.consistency_distilled is False:
        found.append(
            f"{spec.name} is made for LCM- or TCD-distilled models, and {model.label} is not"
            " one: choose a sampler such as DPM++ 2M for it, or an LCM student."
        )
    steps = params.num_inference_steps
    if steps > FEW_STEP_LIMIT:
        found.append(
            f"{spec.name} is a few-step sampler for LCM- or TCD-distilled models: use 1 to"
            f" {FEW_STEP_LIMIT} steps; {steps} take longer and rarely look better."
        )
    return found


def _model_warnings(params: GenerationParams, model: ModelFacts) -> list[str]:
    """What the model cannot do with this recipe: a sampler of another kind, a prompt the
    embedded emoji model has no word for."""
    found: list[str] = []
    misfit = model.sampler_misfit(params.sampler)
    if misfit:
        found.append(misfit)
    prompt = params.prompt.strip() if isinstance(params.prompt, str) else ""
    if model.vocabulary is not None and prompt and not model.vocabulary.names_something(prompt):
        found.append(out_of_vocabulary_message(prompt, model.label))
    return found


def _schedule_warnings(params: GenerationParams) -> list[str]:
    schedule = params.schedule
    if schedule.rescale_zero_snr and schedule.spacing in (Spacing.leading, Spacing.linspace):
        return [
            f"Zero terminal SNR with {Spacing(schedule.spacing).value} spacing never samples"
            " the pure-noise step: use trailing spacing."
        ]
    return []


def _well_typed(params: GenerationParams) -> bool:
    numbers = (params.guidance_scale, params.eta, params.num_inference_steps)
    return (
        isinstance(params.negative_prompt, str)
        and isinstance(params.sampler, str)
        and all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers)
        and isinstance(params.schedule, ScheduleOptions)
    )


def recipe_warnings(
    params: GenerationParams,
    *,
    guidance_distilled: bool,
    sampler_uses_eta: bool,
    model: ModelFacts = UNKNOWN,
) -> list[str]:
    """One sentence for each setting in `params` that has no effect or works against the model
    (what is known of it: `model`)."""
    if not _well_typed(params):
        return []
    found = _model_warnings(params, model) + _guidance_warnings(params, guidance_distilled)
    spec = find_sampler(params.sampler)
    if spec is not None:
        found += _sampler_warnings(params, spec, sampler_uses_eta)
        found += _consistency_warnings(params, spec, model)
    return found + _schedule_warnings(params)
