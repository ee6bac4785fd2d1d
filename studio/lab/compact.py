"""Shipping students compactly: a student's change from its teacher as a low-rank LoRA.

Students train only their weight matrices (biases and norms stay the teacher's), so the
difference is a set of matrix deltas; a truncated SVD of each gives LoRA factors in the
diffusers/PEFT layout, loaded with `pipe.load_lora_weights` and fused.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import torch
from safetensors.torch import load_file, save_file
from torch import nn

LORA_FILE = "pytorch_lora_weights.safetensors"
M = TypeVar("M", bound=nn.Module)


def freeze_non_matrices(unet: nn.Module) -> None:
    """Keep biases and normalisation parameters at the teacher's values."""
    for param in unet.parameters():
        param.requires_grad_(param.ndim >= 2)


def _factor(delta: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    out_features = delta.shape[0]
    flat = delta.reshape(out_features, -1).double()
    u, s, vh = torch.linalg.svd(flat, full_matrices=False)
    r = min(rank, s.numel())
    down = vh[:r]
    up = u[:, :r] * s[:r]
    if delta.ndim == 4:
        return down.reshape(r, *delta.shape[1:]), up.reshape(out_features, r, 1, 1)
    return down, up


def lora_from_delta(
    teacher: nn.Module, student: nn.Module, rank: int, dtype: torch.dtype = torch.float16
) -> dict[str, torch.Tensor]:
    """PEFT-layout LoRA factors (`unet.<module>.lora_A/B.weight`) for every changed layer."""
    teacher_modules = dict(teacher.named_modules())
    factors: dict[str, torch.Tensor] = {}
    for name, module in student.named_modules():
        if not isinstance(module, nn.Linear | nn.Conv2d):
            continue
        delta = module.weight.detach().float() - teacher_modules[name].weight.detach().float()
        if not delta.abs().max() > 0:
            continue
        down, up = _factor(delta.cpu(), rank)
        factors[f"unet.{name}.lora_A.weight"] = down.to(dtype).contiguous()
        factors[f"unet.{name}.lora_B.weight"] = up.to(dtype).contiguous()
    return factors


def save_lora(factors: dict[str, torch.Tensor], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LORA_FILE
    tmp = path.with_suffix(".tmp")
    save_file(factors, tmp, metadata={"format": "pt"})
    tmp.replace(path)
    return path


def lora_size_mb(factors: dict[str, torch.Tensor]) -> float:
    return sum(t.numel() * t.element_size() for t in factors.values()) / 1e6


def fuse_lora(unet: M, path: Path) -> M:
    """Add the LoRA factors in the file at `path` (as `save_lora` writes them) into `unet`'s
    weights, in place."""
    factors = load_file(path)
    modules = dict(unet.named_modules())
    downs = {
        k.removeprefix("unet.").removesuffix(".lora_A.weight"): v
        for k, v in factors.items()
        if k.endswith(".lora_A.weight")
    }
    for name, down in downs.items():
        module = modules.get(name)
        if not isinstance(module, nn.Linear | nn.Conv2d):
            raise ValueError(f"{path}: the LoRA names {name!r}, which this UNet does not have.")
        up = factors[f"unet.{name}.lora_B.weight"].float()
        delta = up.flatten(1) @ down.float().flatten(1)
        with torch.no_grad():
            module.weight += delta.reshape(module.weight.shape).to(module.weight.dtype)
    return unet
