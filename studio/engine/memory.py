"""Memory facts for the model cache: the machine's totals, what loaded pipelines hold, and
handing freed memory back to the system.

Totals come from /proc/meminfo (and a cgroup limit when lower) or os.sysconf, and from
torch for the GPU; psutil is not needed. A pipeline's footprint is the bytes of the distinct
tensor storages of its torch modules, split by where they live, so weights shared by two
pipelines (the embedded models' text encoder) count once.
"""

from __future__ import annotations

import ctypes
import gc
import os
import platform
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch

from studio.core.engine_options import EngineOptions

MB = 1 << 20
RAM_SHARE = 0.5
GPU_SHARE = 0.7
FALLBACK_RAM_BYTES = 8 << 30
GPU_KINDS = frozenset({"cuda", "mps", "xpu"})
MEMINFO = Path("/proc/meminfo")
CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)


@dataclass(frozen=True, slots=True)
class Footprint:
    """Bytes of model weights in CPU RAM and in GPU memory."""

    ram: int = 0
    gpu: int = 0

    def fits(self, budget: MemoryBudget) -> bool:
        return self.ram <= budget.ram_bytes and self.gpu <= budget.gpu_bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryBudget:
    """How much the model cache may keep loaded: weight bytes in RAM and on the GPU, and a count."""

    ram_bytes: int
    gpu_bytes: int
    max_models: int = 3


def meminfo_total(text: str) -> int | None:
    """MemTotal in bytes from the text of /proc/meminfo."""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) * 1024
    return None


def _cgroup_limit() -> int | None:
    for path in CGROUP_LIMITS:
        try:
            value = path.read_text().strip()
        except OSError:
            continue
        if value.isdigit():
            return int(value)
    return None


def _sysconf_total() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def total_ram_bytes() -> int | None:
    """This machine's RAM (or the container's limit when lower), or None when unknown."""
    try:
        total = meminfo_total(MEMINFO.read_text())
    except OSError:
        total = None
    total = total or _sysconf_total()
    limit = _cgroup_limit()
    if total and limit:
        return min(total, limit)
    return total or limit


def total_gpu_bytes() -> int | None:
    """The current CUDA device's memory, or what Apple recommends for MPS, or None."""
    if torch.cuda.is_available():
        return int(torch.cuda.mem_get_info()[1])
    mps = getattr(torch, "mps", None)
    recommended = getattr(mps, "recommended_max_memory", None)
    backend = getattr(torch.backends, "mps", None)
    if recommended is not None and backend is not None and backend.is_available():
        return int(recommended())
    return None


def default_budget(
    options: EngineOptions | None = None,
    ram_total: Callable[[], int | None] = total_ram_bytes,
    gpu_total: Callable[[], int | None] = total_gpu_bytes,
) -> MemoryBudget:
    """The budget the options ask for; automatic sizes are a share of the machine's memory."""
    options = options or EngineOptions()
    ram = options.ram_budget_mb * MB or int((ram_total() or FALLBACK_RAM_BYTES) * RAM_SHARE)
    gpu = options.gpu_budget_mb * MB or int((gpu_total() or 0) * GPU_SHARE)
    return MemoryBudget(ram_bytes=ram, gpu_bytes=gpu, max_models=options.max_models)


def _modules(pipe: Any) -> Iterator[torch.nn.Module]:
    components = getattr(pipe, "components", None) or {}
    for value in components.values():
        if isinstance(value, torch.nn.Module):
            yield value


def _offloaded_tensors(module: torch.nn.Module) -> Iterator[torch.Tensor]:
    """Weights accelerate keeps aside for a module whose parameters sit on the meta device."""
    hook = getattr(module, "_hf_hook", None)
    hooks = getattr(hook, "hooks", None) or ([hook] if hook is not None else [])
    for one in hooks:
        weights = getattr(getattr(one, "weights_map", None), "dataset", None)
        if isinstance(weights, dict):
            yield from (t for t in weights.values() if isinstance(t, torch.Tensor))


def _tensors(pipe: Any) -> Iterator[torch.Tensor]:
    for module in _modules(pipe):
        yield from module.parameters()
        yield from module.buffers()
        for sub in module.modules():
            yield from _offloaded_tensors(sub)


def is_gpu(device: torch.device) -> bool:
    return device.type in GPU_KINDS


StorageKey = tuple[str, int]
Storages = dict[StorageKey, tuple[bool, int]]
"""Distinct tensor storages by (device, address): whether each is on a GPU, and its bytes."""


def storages(pipes: Iterable[Any]) -> Storages:
    """The storages the pipelines' modules hold, each once; meta tensors hold none. Plain
    numbers only: keeping them keeps no tensor alive."""
    found: Storages = {}
    for pipe in pipes:
        for tensor in _tensors(pipe):
            if tensor.device.type == "meta":
                continue
            storage = tensor.untyped_storage()
            key = (str(tensor.device), storage.data_ptr())
            found.setdefault(key, (is_gpu(tensor.device), storage.nbytes()))
    return found


def total(found: Storages) -> Footprint:
    gpu = sum(size for on_gpu, size in found.values() if on_gpu)
    ram = sum(size for on_gpu, size in found.values() if not on_gpu)
    return Footprint(ram, gpu)


def footprint(pipes: Iterable[Any]) -> Footprint:
    """The bytes the pipelines' modules hold, shared storages counted once."""
    return total(storages(pipes))


def rss_bytes() -> int:
    """This process's resident set size from /proc/self/statm (0 where there is none)."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


@cache
def _glibc() -> Any:
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def trim_heap() -> bool:
    """Ask glibc to hand freed heap pages back to the system; False where that is not possible."""
    libc = _glibc()
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return False
    return bool(trim(0))


def release_memory() -> None:
    """After models were dropped: collect cycles, empty the GPU caches and trim the heap."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    backend = getattr(torch.backends, "mps", None)
    if mps is not None and backend is not None and backend.is_available():
        mps.empty_cache()
    trim_heap()


def is_out_of_memory(exc: BaseException | None) -> bool:
    """Whether `exc`, or an error it was raised from, is the device or the host running out."""
    for _ in range(8):
        if exc is None:
            return False
        if isinstance(exc, MemoryError | torch.OutOfMemoryError):
            return True
        if "out of memory" in str(exc).lower():
            return True
        exc = exc.__cause__
    return False
