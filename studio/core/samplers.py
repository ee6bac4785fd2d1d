"""The sampler catalogue: named recipes over diffusers schedulers, as plain data.

The engine turns a `SamplerSpec` into a scheduler with `from_config`; the core only knows
names, so validation and the UI can list and check samplers without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class ModelKind(StrEnum):
    """The diffusion formulation a model was trained with."""

    vp = "vp"
    flow = "flow"


@dataclass(frozen=True, slots=True, kw_only=True)
class SamplerSpec:
    """One named sampler: a diffusers scheduler class, its config overrides and what it fits.

    `needs` names an extra package; `needs_gamma_table` marks Analytic-DPM samplers, whose
    scheduler needs the model's Gamma table (estimated once per model, then cached) before it runs;
    `needs_predictor` marks AMED and the AMED-Plugin, whose scheduler needs a predictor trained
    for the model and the step count (once, then cached). `min_steps` is the fewest steps the
    sampler can take.
    """

    name: str
    scheduler: str
    overrides: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    kinds: frozenset[ModelKind] = frozenset({ModelKind.vp})
    uses_eta: bool = False
    stochastic: bool = False
    needs: str = ""
    needs_gamma_table: bool = False
    needs_predictor: bool = False
    min_steps: int = 1
    summary: str = ""


def _spec(name: str, scheduler: str, summary: str, **kw: Any) -> SamplerSpec:
    overrides = MappingProxyType(dict(kw.pop("overrides", {})))
    return SamplerSpec(name=name, scheduler=scheduler, overrides=overrides, summary=summary, **kw)


_KARRAS = {"use_karras_sigmas": True}
_TRAILING = {"timestep_spacing": "trailing"}
_SDE = {"algorithm_type": "sde-dpmsolver++"}
_FLOW = frozenset({ModelKind.flow})

SAMPLERS: tuple[SamplerSpec, ...] = (
    _spec("DDPM", "DDPMScheduler", "ancestral Markov chain (Ho et al.)", stochastic=True),
    _spec(
        "DDIM", "DDIMScheduler", "implicit sampler; eta blends ODE (0) and DDPM (1)", uses_eta=True
    ),
    _spec(
        "DDIM trailing",
        "DDIMScheduler",
        "DDIM with trailing timesteps (zero-SNR ready)",
        overrides=_TRAILING,
        uses_eta=True,
    ),
    _spec(
        "DDPM (analytic variance)",
        "AnalyticDDPMScheduler",
        "DDPM with Analytic-DPM's optimal reverse variance (Bao et al.)",
        stochastic=True,
        needs_gamma_table=True,
    ),
    _spec(
        "DDIM eta + analytic variance",
        "AnalyticDDIMScheduler",
        "DDIM(eta) with Analytic-DPM's optimal variance; adds noise even at eta 0",
        uses_eta=True,
        stochastic=True,
        needs_gamma_table=True,
    ),
    _spec("PNDM", "PNDMScheduler", "pseudo linear multistep", overrides={"skip_prk_steps": True}),
    _spec("Euler", "EulerDiscreteScheduler", "first-order probability-flow ODE"),
    _spec(
        "Euler trailing",
        "EulerDiscreteScheduler",
        "Euler with trailing timesteps",
        overrides=_TRAILING,
    ),
    _spec(
        "Euler a", "EulerAncestralDiscreteScheduler", "Euler with ancestral noise", stochastic=True
    ),
    _spec("Heun", "HeunDiscreteScheduler", "second-order ODE (EDM), 2 evaluations per step"),
    _spec("LMS", "LMSDiscreteScheduler", "linear multistep", needs="scipy"),
    _spec(
        "LMS Karras",
        "LMSDiscreteScheduler",
        "linear multistep, Karras sigmas",
        overrides=_KARRAS,
        needs="scipy",
    ),
    _spec("DPM2", "KDPM2DiscreteScheduler", "DPM-Solver-2 (k-diffusion)"),
    _spec(
        "DPM2 a",
        "KDPM2AncestralDiscreteScheduler",
        "DPM-Solver-2 with ancestral noise",
        stochastic=True,
    ),
    _spec("DPM++ 2M", "DPMSolverMultistepScheduler", "DPM-Solver++ second-order multistep"),
    _spec(
        "DPM++ 2M Karras",
        "DPMSolverMultistepScheduler",
        "DPM-Solver++ 2M, Karras sigmas",
        overrides=_KARRAS,
    ),
    _spec(
        "DPM++ 3M",
        "DPMSolverMultistepScheduler",
        "DPM-Solver++ third-order multistep",
        overrides={"solver_order": 3},
    ),
    _spec(
        "DPM++ 2M SDE",
        "DPMSolverMultistepScheduler",
        "SDE variant of DPM-Solver++ 2M",
        overrides=_SDE,
        stochastic=True,
    ),
    _spec(
        "DPM++ 2M SDE Karras",
        "DPMSolverMultistepScheduler",
        "SDE DPM-Solver++ 2M, Karras sigmas",
        overrides={**_SDE, **_KARRAS},
        stochastic=True,
    ),
    _spec("DPM++ 2S", "DPMSolverSinglestepScheduler", "DPM-Solver++ second-order singlestep"),
    _spec(
        "DPM++ SDE",
        "DPMSolverSDEScheduler",
        "DPM-Solver++ SDE (Brownian tree noise)",
        stochastic=True,
        needs="torchsde",
    ),
    _spec("UniPC", "UniPCMultistepScheduler", "unified predictor-corrector (bh2)"),
    _spec("DEIS", "DEISMultistepScheduler", "diffusion exponential integrator"),
    _spec(
        "AMED",
        "AmedScheduler",
        "mean-value ODE steps at a learned intermediate time (Zhou et al.); steps count NFE",
        needs_predictor=True,
        min_steps=3,
    ),
    _spec(
        "AMED-Plugin",
        "AmedPluginScheduler",
        "DPM-Solver++ 2M with AMED's learned intermediate time in its last interval; "
        "steps count NFE",
        needs_predictor=True,
        min_steps=3,
    ),
    _spec(
        "LCM",
        "LCMScheduler",
        "consistency-model multistep sampling (for LCM students)",
        stochastic=True,
    ),
    _spec(
        "TCD",
        "TCDScheduler",
        "trajectory consistency; eta is TCD's gamma",
        uses_eta=True,
        stochastic=True,
    ),
    _spec(
        "Flow Euler", "FlowMatchEulerDiscreteScheduler", "Euler on a flow-matching ODE", kinds=_FLOW
    ),
    _spec(
        "Flow Heun", "FlowMatchHeunDiscreteScheduler", "Heun on a flow-matching ODE", kinds=_FLOW
    ),
)

SAMPLER_NAMES: tuple[str, ...] = tuple(s.name for s in SAMPLERS)
_BY_NAME = {s.name.lower(): s for s in SAMPLERS}


def find_sampler(name: str) -> SamplerSpec | None:
    """The spec named `name` (case-insensitive), or None."""
    return _BY_NAME.get(name.strip().lower())


def sampler_fits(spec: SamplerSpec, kind: ModelKind) -> bool:
    return kind in spec.kinds
