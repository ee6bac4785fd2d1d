"""A content-addressed cache of fused student weights, so a LoRA student loads without peft.

Fusing a LoRA through peft (inject the adapter layers, fuse, unload) costs about a second on a
CPU for the embedded students, every start. The result depends only on the base denoiser's
tensors, the LoRA file, its scale, the dtype and the libraries that fused it, so the fused
denoiser's weights are kept in `<user cache>/studio/fused`, one safetensors file per key:

- the key is a sha256 over the base denoiser's exact tensor bytes in memory (names, shapes,
  dtypes), the LoRA file's bytes, the scale, and the torch / diffusers / peft versions;
- each file records its key and a sha256 of its own tensors (names, shapes, dtypes, bytes);
  a file whose key or content digest does not match, or whose tensors do not fit the
  denoiser, is refused (with a log line), deleted and rebuilt by peft;
- writes are atomic, and the folder keeps the `MAX_ENTRIES` most recently used files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path

import torch
from platformdirs import user_cache_dir
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from studio.core.atomic import atomic_write

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MAX_ENTRIES = 8
LIBRARIES = ("torch", "diffusers", "peft")


def default_fused_dir() -> Path:
    """`<user cache>/studio/fused`."""
    return Path(user_cache_dir("studio")) / "fused"


def tensors_digest(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 over tensors' names, shapes, dtypes and exact bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}\n".encode())
        if tensor.numel():
            digest.update(tensor.view(torch.uint8).numpy().data)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def fused_key(denoiser: torch.nn.Module, lora_file: Path, scale: float) -> str:
    """The key of `denoiser` with the LoRA in `lora_file` fused at `scale`."""
    fields = {
        "format": FORMAT_VERSION,
        "base": tensors_digest(denoiser.state_dict()),
        "lora": file_digest(lora_file),
        "scale": scale,
        "libraries": {name: _version(name) for name in LIBRARIES},
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


class FusedWeightsCache:
    """Keeps fused denoiser weights on disk by key and puts them back into a denoiser."""

    def __init__(self, folder: Path | None = None, max_entries: int = MAX_ENTRIES) -> None:
        self.folder = folder or default_fused_dir()
        self.max_entries = max_entries

    def path(self, key: str) -> Path:
        return self.folder / f"unet-{key[:32]}.safetensors"

    def fuse(
        self,
        denoiser: torch.nn.Module,
        lora_file: Path,
        scale: float,
        fuse_with_peft: Callable[[], None],
    ) -> bool:
        """Make `denoiser` the fused student: from the cache when a valid entry exists (True),
        else by `fuse_with_peft()` and store the result (False)."""
        key = fused_key(denoiser, lora_file, scale)
        if self._restore(denoiser, key):
            return True
        fuse_with_peft()
        self._store(denoiser, key)
        return False

    def _restore(self, denoiser: torch.nn.Module, key: str) -> bool:
        path = self.path(key)
        if not path.is_file():
            return False
        problem = self._problem(path, key, denoiser)
        if problem:
            log.warning("Fused weights %s refused (%s); rebuilding them.", path.name, problem)
            path.unlink(missing_ok=True)
            return False
        os.utime(path)
        return True

    def _problem(self, path: Path, key: str, denoiser: torch.nn.Module) -> str:
        """Why the file at `path` cannot be `key`'s weights ("" when it is), after loading
        them into `denoiser` when they check out."""
        try:
            with safe_open(path, framework="pt") as handle:
                stamp = handle.metadata() or {}
            state = load_file(path)
        except (OSError, SafetensorError, ValueError) as exc:
            return f"unreadable: {exc}"
        if stamp.get("key") != key:
            return "made for other weights"
        if stamp.get("content") != tensors_digest(state):
            return "its content does not match its sha256"
        try:
            with torch.no_grad():
                denoiser.load_state_dict(state, strict=True)
        except RuntimeError:
            return "its tensors do not fit the model"
        return ""

    def _store(self, denoiser: torch.nn.Module, key: str) -> None:
        state = {k: v.detach().to("cpu").contiguous() for k, v in denoiser.state_dict().items()}
        stamp = {"key": key, "content": tensors_digest(state), "format": str(FORMAT_VERSION)}
        try:
            data = save(state, metadata=stamp)
            atomic_write(self.path(key), lambda handle: handle.write(data))
            self._trim()
        except OSError as exc:
            log.warning("Could not keep the fused weights in %s: %s", self.folder, exc)

    def _trim(self) -> None:
        entries = sorted(
            self.folder.glob("unet-*.safetensors"), key=lambda p: p.stat().st_mtime, reverse=True
        )
        for stale in entries[self.max_entries :]:
            stale.unlink(missing_ok=True)
