"""Reading one weights file into tensors, safely: checked safetensors, or an opted-in pickle.

A pickle is read only when the user allowed it for that file, and then only through
torch.load(weights_only=True), which refuses anything but tensors and plain containers.
There is no fallback from one reader to another.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from studio.core.weights_check import WeightsError, WeightsFormat, check_weights_file

UNSAFE_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def _state_dict(loaded: object, label: str) -> dict[str, torch.Tensor]:
    """The tensors of a loaded checkpoint, unwrapping Lightning-style {'state_dict': ...}."""
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not loaded:
        raise WeightsError(f"{label} holds no state dict of tensors.")
    tensors = {k: v for k, v in loaded.items() if isinstance(v, torch.Tensor)}
    if not tensors or not all(isinstance(k, str) for k in tensors):
        raise WeightsError(f"{label} holds no state dict of named tensors.")
    return tensors


def _load_pickle(path: Path, label: str) -> dict[str, torch.Tensor]:
    try:
        with open(path, "rb") as handle:  # a path would let torch pick a reader by extension
            loaded: Any = torch.load(handle, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = UNSAFE_GLOBAL.search(str(exc))
        what = f" ({found.group(1)})" if found else ""
        raise WeightsError(
            f"{label} holds more than tensors{what}, so it is refused even with pickle allowed."
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise WeightsError(f"{label} could not be read as a PyTorch checkpoint.") from exc
    return _state_dict(loaded, label)


def _load_safetensors(path: Path, label: str) -> dict[str, torch.Tensor]:
    try:
        return load_file(path)
    except (SafetensorError, OSError) as exc:
        raise WeightsError(f"{label} could not be read as safetensors: {exc}.") from exc


def load_weights(
    path: Path, *, allow_pickle: bool = False, name: str | None = None
) -> dict[str, torch.Tensor]:
    """The tensors in `path` after its content check; WeightsError says why it is refused."""
    label = name or path.name
    kind = check_weights_file(path, allow_pickle=allow_pickle, name=label)
    if kind is WeightsFormat.safetensors:
        return _load_safetensors(path, label)
    return _load_pickle(path, label)
