"""How the engine places models and how much of them it keeps loaded, as plain values."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MAX_CACHED_MODELS = 16
MAX_BUDGET_MB = 1 << 24


class Device(StrEnum):
    """Where models run: `auto` picks CUDA, then Apple MPS, then the CPU."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class Offload(StrEnum):
    """How much of a model waits in CPU RAM while it runs on a small GPU.

    `model` moves one whole component (text encoder, UNet, VAE) to the GPU while it runs;
    `sequential` moves one layer at a time: least GPU memory, much slower.
    """

    none = "none"
    model = "model"
    sequential = "sequential"


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineOptions:
    """The engine's placement and model-cache settings; a budget of 0 means automatic."""

    device: Device = Device.auto
    offload: Offload = Offload.none
    ram_budget_mb: int = 0
    gpu_budget_mb: int = 0
    max_models: int = 3
