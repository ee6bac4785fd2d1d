"""Shortcut models (Frans et al., 2024) on this project's v-prediction UNets: the step-size input.

A shortcut model is the teacher's UNet also conditioned on the step size ``d`` it is asked to
take (``d = 1/M`` for an M-step trailing schedule; ``d = 0`` is the instantaneous prediction).
The condition enters through diffusers' ``time_cond_proj_dim`` / ``timestep_cond``: a sinusoidal
embedding of ``1000 d`` goes through a bias-free linear map that is added to the timestep
features. That map starts at zero, so a new shortcut model is exactly its teacher for every d.
"""

from __future__ import annotations

import torch
from diffusers import UNet2DConditionModel
from diffusers.models.embeddings import get_timestep_embedding

from studio.core.shortcut import MAX_SHORTCUT_STEPS, SHORTCUT_SAMPLER, SHORTCUT_STEP_COUNTS
from studio.engine.samplers import SamplerError

COND_DIM = 64
MAX_STEPS = MAX_SHORTCUT_STEPS
STEP_COUNTS = SHORTCUT_STEP_COUNTS


def is_shortcut(unet: torch.nn.Module) -> bool:
    """Whether an EmojiPipeline's UNet takes a step size. Only there: in diffusers' LCM UNets
    the same input carries the guidance scale."""
    config = getattr(unet, "config", None)
    return bool(config is not None and getattr(config, "time_cond_proj_dim", None))


def check_steps(steps: int) -> None:
    """Refuse a step count the model was not trained for, in one sentence."""
    if steps not in STEP_COUNTS:
        counts = ", ".join(str(n) for n in STEP_COUNTS)
        raise ValueError(f"a shortcut model takes {counts} steps, not {steps}.")


def check_sampler(unet: torch.nn.Module, sampler: str, eta: float, name: str) -> None:
    """Refuse, in one sentence, a sampler a shortcut model cannot take: it was trained for
    deterministic DDIM steps on the trailing grid."""
    if is_shortcut(unet) and (sampler != SHORTCUT_SAMPLER or eta != 0):
        raise SamplerError(
            f"{name} is a shortcut model: it takes deterministic {SHORTCUT_SAMPLER} steps "
            f"(eta 0), the steps it was trained to shortcut, not {sampler}"
            + (f" with eta {eta:g}." if eta != 0 else ".")
        )


def check_recipe(unet: torch.nn.Module, sampler: str, steps: int, eta: float, name: str) -> None:
    """Refuse, in one sentence, what a shortcut model cannot sample: it was trained for
    deterministic DDIM steps of size 1/steps on the trailing grid, steps a power of two."""
    if not is_shortcut(unet):
        return
    check_sampler(unet, sampler, eta, name)
    try:
        check_steps(steps)
    except ValueError as exc:
        raise SamplerError(f"{name}: {exc}") from None


def step_size_embedding(steps: torch.Tensor, dim: int = COND_DIM) -> torch.Tensor:
    """The ``timestep_cond`` for step counts (0 means d = 0, the instantaneous prediction)."""
    steps = steps.to(torch.float64)
    d = torch.where(steps > 0, 1.0 / steps.clamp(min=1), torch.zeros_like(steps))
    return get_timestep_embedding(d * 1000.0, dim, flip_sin_to_cos=True, downscale_freq_shift=0)


def step_condition(steps: int, batch: int, device, dtype) -> torch.Tensor:
    counts = torch.full((batch,), steps, dtype=torch.float64)
    return step_size_embedding(counts).to(device=device, dtype=dtype)


def shortcut_unet_from(teacher: UNet2DConditionModel) -> UNet2DConditionModel:
    """A copy of `teacher` that also takes the step size, equal to it at initialisation."""
    config = {k: v for k, v in teacher.config.items() if not k.startswith("_")}
    config["time_cond_proj_dim"] = COND_DIM
    unet = UNet2DConditionModel.from_config(config)
    missing, unexpected = unet.load_state_dict(teacher.state_dict(), strict=False)
    if unexpected or missing != ["time_embedding.cond_proj.weight"]:
        raise ValueError(f"not a teacher for a shortcut model: {missing} missing, {unexpected}")
    with torch.no_grad():
        unet.time_embedding.cond_proj.weight.zero_()
    return unet.to(next(teacher.parameters()).dtype)
