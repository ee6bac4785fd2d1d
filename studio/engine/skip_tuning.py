"""Skip-Tuning applied to diffusers UNets as removable forward pre-hooks on their up blocks.

Both `UNet2DConditionModel` (Stable Diffusion, SDXL, the embedded emoji model) and
`UNet2DModel` hand each up block the skip features of one resolution level as
`res_hidden_states_tuple`: `up_blocks[0]` gets the innermost level (the lowest resolution,
its downsampler's output and its resnets' outputs), the last up block the outermost (the
`conv_in` output and the full-resolution resnets). So one factor per up block is one factor
per resolution level, as in the paper: every skip tensor of a level is scaled by that level's
factor, from `rho_top` (outermost) to `rho_bottom` (innermost). Only the up blocks' inputs
change; the weights and the saved features of the down path are untouched.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.utils.hooks import RemovableHandle

from studio.core.params import ValidationError
from studio.core.skip_tuning import SkipTuning

SKIPS = "res_hidden_states_tuple"
PreHook = Callable[[torch.nn.Module, tuple[Any, ...], dict[str, Any]], Any]


def skip_blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The up blocks that receive skip features, innermost level first; empty for non-UNets."""
    blocks = getattr(model, "up_blocks", None)
    if not isinstance(blocks, torch.nn.ModuleList):
        return []
    return [b for b in blocks if SKIPS in inspect.signature(b.forward).parameters]


def supports_skip_tuning(model: torch.nn.Module) -> bool:
    return bool(skip_blocks(model))


def _scaling_hook(factor: float) -> PreHook:
    """A pre-hook that multiplies every skip tensor an up block receives by `factor`."""

    def scale(skips: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        return tuple(t * factor for t in skips)

    def hook(module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if SKIPS in kwargs:
            return args, {**kwargs, SKIPS: scale(kwargs[SKIPS])}
        if len(args) > 1:
            return (args[0], scale(args[1]), *args[2:]), kwargs
        return None

    return hook


class SkipTuningHooks:
    """Scales the skip features of a UNet's up blocks, level by level, until `remove()`.

    Installing validates the config (ValidationError with one sentence per bad factor) and
    refuses models without up blocks that take skip features.
    """

    def __init__(self, model: torch.nn.Module, config: SkipTuning) -> None:
        if config.problems():
            raise ValidationError(config.problems())
        blocks = skip_blocks(model)
        if not blocks:
            raise ValidationError(
                [
                    f"Skip-Tuning needs a UNet with skip connections, and this model's"
                    f" {type(model).__name__} has none: set both Skip-Tuning factors to 1."
                ]
            )
        outermost_first = config.factors(len(blocks))
        self.block_factors = tuple(reversed(outermost_first))
        self._handles: list[RemovableHandle] = [
            block.register_forward_pre_hook(_scaling_hook(factor), with_kwargs=True)
            for block, factor in zip(blocks, self.block_factors, strict=True)
        ]

    @property
    def installed(self) -> bool:
        return bool(self._handles)

    def remove(self) -> None:
        while self._handles:
            self._handles.pop().remove()

    def __enter__(self) -> SkipTuningHooks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


@contextmanager
def skip_tuned(model: torch.nn.Module, config: SkipTuning) -> Iterator[SkipTuningHooks | None]:
    """Skip-Tuning on `model` inside the block and removed after it, also on an exception.

    A config that is not enabled installs nothing, so the model runs exactly as without it.
    """
    if not config.enabled:
        yield None
        return
    with SkipTuningHooks(model, config) as hooks:
        yield hooks
