"""A training batch and the device training runs on, shared by the teacher and every student."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True, slots=True)
class Batch:
    """One training batch on the training device."""

    x0: torch.Tensor
    states: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor


def batch_rows(batch: Batch, rows: slice) -> Batch:
    return Batch(batch.x0[rows], batch.states[rows], batch.mask[rows], batch.pooled[rows])


def pick_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")
