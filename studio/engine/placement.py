"""Putting a loaded pipeline on its device: whole, or offloaded to the CPU between uses.

CPU offload (diffusers' `enable_model_cpu_offload` / `enable_sequential_cpu_offload`) needs
accelerate and a CUDA GPU. Where it cannot help (a CPU-only machine, Apple's shared memory,
the embedded models, which are a few MB and share one text encoder between pipelines) the
model is placed whole and the notice says why the option was not used.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from studio.core.engine_options import Offload


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a pipeline runs and how its weights wait; `notice` says why an asked-for offload
    was not used (empty when it was, or when none was asked for)."""

    device: torch.device
    offload: Offload = Offload.none
    notice: str = ""


def accelerate_installed() -> bool:
    return importlib.util.find_spec("accelerate") is not None


def _unused(offload: Offload, device: torch.device, family: str, has_accelerate: bool) -> str:
    """Why `offload` cannot be used here, or "" when it can."""
    what = f"CPU offload ({offload.value})"
    if device.type == "cpu":
        return f"{what} needs a CUDA GPU and this model runs on the CPU, so it was not used."
    if device.type != "cuda":
        return (
            f"{what} is only used with CUDA GPUs; on {device.type} the GPU shares the CPU's "
            "memory, so the model is loaded whole."
        )
    if family == "emoji":
        return f"{what} is not used for the embedded models, which fit any GPU."
    if not has_accelerate:
        return (
            f"{what} needs the accelerate package, which is not installed "
            "(pip install accelerate), so the model is loaded whole."
        )
    return ""


def plan_placement(
    device: torch.device,
    offload: Offload | str = Offload.none,
    family: str = "",
    has_accelerate: Callable[[], bool] = accelerate_installed,
) -> Placement:
    """The placement to use for a `family` model on `device` when `offload` is asked for."""
    try:
        mode = Offload(offload)
    except ValueError:
        names = ", ".join(m.value for m in Offload)
        raise ValueError(f"{offload!r} is not a CPU offload mode: use {names}.") from None
    if mode is Offload.none:
        return Placement(device)
    notice = _unused(mode, device, family, has_accelerate())
    return Placement(device, Offload.none if notice else mode, notice)


def place(pipe: Any, placement: Placement) -> None:
    """Move `pipe` to its device, or hand it to diffusers' CPU offload for that device."""
    if placement.offload is Offload.model:
        pipe.enable_model_cpu_offload(device=placement.device)
    elif placement.offload is Offload.sequential:
        pipe.enable_sequential_cpu_offload(device=placement.device)
    else:
        pipe.to(placement.device)
