"""Gamma tables on disk: one small .npz per model, written atomically.

A table's key is a sha256 over the weights the loaded model really runs (its denoiser's and text
encoder's tensors in memory, as float16 bytes: fused adapters included, and a folder replaced
on disk after loading cannot mislabel a table), the entries of its scheduler config that fix
alpha-bar and the prediction type, its data source and the file format. The estimate's options
(samples, grid) are not part of it: one table per model, and `studio analytic --force` with more
samples replaces it. A file that is missing, unreadable, of another key or holding bad numbers
is a miss: the table is estimated again and the file replaced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import weakref
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from platformdirs import user_cache_dir

from studio.core.atomic import atomic_write
from studio.engine.analytic.estimate import schedule_config
from studio.engine.analytic.variance import GammaTable

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODEL_COMPONENTS = ("unet", "transformer", "text_encoder", "text_encoder_2")
ARRAYS = ("timesteps", "alphas_cumprod", "gamma")
SCALARS = ("data_var", "terminal_x0_var", "samples", "num_train_timesteps")
_FINGERPRINTS: weakref.WeakKeyDictionary[torch.nn.Module, str] = weakref.WeakKeyDictionary()


def default_cache_dir() -> Path:
    """`<user cache>/studio/analytic`."""
    return Path(user_cache_dir("studio")) / "analytic"


def module_fingerprint(module: torch.nn.Module) -> str:
    """sha256 of a module's tensors (names, shapes, float16 bytes), once per module object."""
    if module not in _FINGERPRINTS:
        digest = hashlib.sha256(type(module).__name__.encode())
        for name, tensor in sorted(module.state_dict().items()):
            half = tensor.detach().to("cpu", torch.float16).contiguous()
            digest.update(f"{name}{tuple(half.shape)}".encode())
            digest.update(half.numpy().tobytes())
        _FINGERPRINTS[module] = digest.hexdigest()
    return _FINGERPRINTS[module]


def model_fingerprint(pipe: Any) -> str:
    """The fingerprint of a pipeline's denoiser and text encoders together."""
    digest = hashlib.sha256()
    for name in MODEL_COMPONENTS:
        module = getattr(pipe, name, None)
        if isinstance(module, torch.nn.Module):
            digest.update(f"{name}:{module_fingerprint(module)}\n".encode())
    return digest.hexdigest()


def table_key(fingerprint: str, scheduler_config: Mapping[str, Any], source: str) -> str:
    fields = {
        "format": FORMAT_VERSION,
        "model": fingerprint,
        "schedule": schedule_config(scheduler_config),
        "source": source,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def table_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"gamma-{key[:32]}.npz"


def save_table(path: Path, table: GammaTable, key: str) -> Path:
    arrays: dict[str, np.ndarray] = {name: getattr(table, name) for name in ARRAYS}
    arrays |= {name: np.asarray(getattr(table, name)) for name in SCALARS}
    arrays |= {"source": np.asarray(table.source), "key": np.asarray(key)}
    arrays["format"] = np.asarray(FORMAT_VERSION)
    # Named so that no array can be taken for the flag; the reader refuses pickles too.
    return atomic_write(path, lambda handle: np.savez(handle, allow_pickle=False, **arrays))


def _read(path: Path, key: str) -> GammaTable:
    with np.load(path, allow_pickle=False) as data:
        if int(data["format"]) != FORMAT_VERSION or str(data["key"]) != key:
            raise ValueError("the file belongs to another model or format")
        return GammaTable(
            timesteps=data["timesteps"].astype(np.int64),
            alphas_cumprod=data["alphas_cumprod"].astype(np.float64),
            gamma=data["gamma"].astype(np.float64),
            data_var=float(data["data_var"]),
            terminal_x0_var=float(data["terminal_x0_var"]),
            samples=int(data["samples"]),
            source=str(data["source"]),
            num_train_timesteps=int(data["num_train_timesteps"]),
        )


def load_table(path: Path, key: str) -> GammaTable | None:
    """The cached table, or None when the file is missing or unusable (logged, never raised)."""
    if not path.is_file():
        return None
    try:
        return _read(path, key)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("ignoring the Gamma table cache %s: %s", path, exc)
        return None
