"""What engine settings mean on this machine, said in one sentence for the status line."""

from __future__ import annotations

from studio.core.engine_options import Device, EngineOptions, Offload
from studio.engine.loading import pick_device
from studio.engine.memory import GPU_KINDS, MB, MemoryBudget
from studio.engine.placement import plan_placement

DEVICE_NAMES = {"cpu": "CPU", "cuda": "CUDA GPU", "mps": "Apple GPU (MPS)"}
OFFLOAD_NAMES = {
    Offload.none: "no offload",
    Offload.model: "model CPU offload",
    Offload.sequential: "sequential CPU offload",
}


def budget_size(size: int) -> str:
    """'512 MB' or '11.9 GB', counting in MB of 1024 KB as the settings' budgets do."""
    if size < 1024 * MB:
        return f"{size / MB:.0f} MB"
    return f"{size / (1024 * MB):.1f} GB"


def _budget(label: str, size: int, megabytes: int) -> str:
    return f"{label} budget {budget_size(size)}{'' if megabytes else ' (automatic)'}"


def engine_summary(options: EngineOptions, budget: MemoryBudget) -> str:
    """'Engine settings applied: CPU (automatic), no offload, RAM budget 11.9 GB (automatic),
    up to 3 models; …', with the placement's notice when an asked-for offload cannot be used.
    ValueError when the device asked for is not on this machine (see `pick_device`)."""
    device = pick_device(options.device)
    placement = plan_placement(device, options.offload)
    where = DEVICE_NAMES.get(device.type, device.type)
    parts = [
        f"{where} (automatic)" if options.device is Device.auto else where,
        OFFLOAD_NAMES[placement.offload],
        _budget("RAM", budget.ram_bytes, options.ram_budget_mb),
    ]
    if device.type in GPU_KINDS:
        parts.append(_budget("GPU", budget.gpu_bytes, options.gpu_budget_mb))
    count = budget.max_models
    parts.append("up to 1 model" if count == 1 else f"up to {count} models")
    sentence = f"Engine settings applied: {', '.join(parts)}; models load again when next used."
    return f"{sentence} {placement.notice}" if placement.notice else sentence
