"""Memory facts: machine totals without psutil, default budgets, RSS and heap trimming."""

from __future__ import annotations

import pytest
import torch

from studio.core.engine_options import EngineOptions
from studio.engine import memory
from studio.engine.memory import (
    MB,
    default_budget,
    is_out_of_memory,
    meminfo_total,
    rss_bytes,
    total_ram_bytes,
    trim_heap,
)

MEMINFO = "MemTotal:       24684556 kB\nMemFree:        21322804 kB\nMemAvailable:   23300000 kB\n"


def test_meminfo_total_reads_kilobytes():
    assert meminfo_total(MEMINFO) == 24684556 * 1024
    assert meminfo_total("MemFree: 12 kB\n") is None


def test_container_limit_lowers_the_total(tmp_path, monkeypatch):
    meminfo, limit = tmp_path / "meminfo", tmp_path / "memory.max"
    meminfo.write_text(MEMINFO)
    limit.write_text("4294967296\n")
    monkeypatch.setattr(memory, "MEMINFO", meminfo)
    monkeypatch.setattr(memory, "CGROUP_LIMITS", (limit,))
    assert total_ram_bytes() == 4 << 30
    limit.write_text("max\n")
    assert total_ram_bytes() == 24684556 * 1024


def test_sysconf_is_the_fallback_without_meminfo(tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "MEMINFO", tmp_path / "missing")
    monkeypatch.setattr(memory, "CGROUP_LIMITS", ())
    total = total_ram_bytes()
    assert total is not None and total > 256 * MB


def test_default_budget_is_a_share_of_the_machine_unless_set():
    budget = default_budget(ram_total=lambda: 32 << 30, gpu_total=lambda: 8 << 30)
    expected = (16 << 30, int(0.7 * (8 << 30)), 3)
    assert (budget.ram_bytes, budget.gpu_bytes, budget.max_models) == expected
    options = EngineOptions(ram_budget_mb=1000, gpu_budget_mb=2000, max_models=1)
    budget = default_budget(options, ram_total=lambda: None, gpu_total=lambda: None)
    assert (budget.ram_bytes, budget.gpu_bytes, budget.max_models) == (1000 * MB, 2000 * MB, 1)
    assert default_budget(ram_total=lambda: None, gpu_total=lambda: None).gpu_bytes == 0


def test_rss_grows_with_touched_memory():
    before = rss_bytes()
    block = torch.ones(64 * MB // 4)
    assert rss_bytes() - before > 48 * MB
    del block


def test_trim_heap_is_guarded(monkeypatch):
    trim_heap()
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    assert trim_heap() is False


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (MemoryError(), True),
        (torch.OutOfMemoryError("CUDA out of memory."), True),
        (RuntimeError("boom"), False),
        (None, False),
    ],
)
def test_is_out_of_memory(exc, expected):
    assert is_out_of_memory(exc) is expected


def test_out_of_memory_is_found_behind_a_load_error():
    try:
        try:
            raise torch.OutOfMemoryError("no room")
        except torch.OutOfMemoryError as inner:
            raise ValueError("Could not load the model") from inner
    except ValueError as outer:
        assert is_out_of_memory(outer)
