"""Gamma tables on disk: one small .npz per model and estimate, written atomically.

A table's key is a sha256 over the model's weights (the content of its denoiser files and of
its top-level files, an adapter's base included), the entries of its scheduler config that fix
alpha-bar and the prediction type, its data source and the file format. The estimate's options
(samples, grid) are not part of it: one table per model, and `studio analytic --force` with more
samples replaces it. A file that is missing, unreadable, of another key or holding bad numbers
is a miss: the table is estimated again and the file replaced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from platformdirs import user_cache_dir

from studio.core.atomic import atomic_write
from studio.core.manifest import read_manifest
from studio.engine.adapters import base_folder
from studio.engine.analytic.estimate import schedule_config
from studio.engine.analytic.variance import GammaTable

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
DENOISER_FOLDERS = ("unet", "transformer")
ARRAYS = ("timesteps", "alphas_cumprod", "gamma")
SCALARS = ("data_var", "terminal_x0_var", "samples", "num_train_timesteps")
_DIGESTS: dict[tuple[str, int, int], str] = {}


def default_cache_dir() -> Path:
    """`<user cache>/studio/analytic`."""
    return Path(user_cache_dir("studio")) / "analytic"


def file_sha256(path: Path) -> str:
    """The file's sha256, remembered per path, size and modification time."""
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo not in _DIGESTS:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        _DIGESTS[memo] = digest.hexdigest()
    return _DIGESTS[memo]


def model_files(folder: Path) -> list[tuple[str, Path]]:
    """The files that decide a model's predictions, by relative name: its top-level files
    (index, adapter manifest and weights) and its denoiser's, an adapter's base included."""
    files = [(p.name, p) for p in sorted(folder.iterdir()) if p.is_file()]
    manifest = read_manifest(folder)
    base = base_folder(folder, manifest) if manifest else folder
    for name in DENOISER_FOLDERS:
        files += [(f"{name}/{p.name}", p) for p in sorted((base / name).glob("*")) if p.is_file()]
    return files


def model_fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for name, path in model_files(folder):
        digest.update(f"{name}:{file_sha256(path)}\n".encode())
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
    return atomic_write(path, lambda handle: np.savez(handle, **arrays))


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
