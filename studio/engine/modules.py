"""`module.to(...)` that keeps the module's type, for models mypy cannot call `to` on.

diffusers' `ModelMixin.to` and transformers' `PreTrainedModel.to` are decorated with
`functools.wraps(torch.nn.Module.to)`, which typeshed types as the unbound function: mypy then
reads `unet.to(device)` as passing the device for `self`. The call here is the same bound call,
seen through `torch.nn.Module.to`'s signature.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

import torch

M = TypeVar("M", bound=torch.nn.Module)


def moved(module: M, *args: Any, **kwargs: Any) -> M:
    """`module.to(*args, **kwargs)`: the module itself, on the device and dtype asked for."""
    return cast(M, cast(torch.nn.Module, module).to(*args, **kwargs))
