"""Runner.configure: new engine settings drop the cached models and size a new cache, and one
sentence says what they mean on this machine."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch

from studio.core.engine_options import Device, EngineOptions, Offload
from studio.core.events import EngineStatus, Event
from studio.engine import engine_settings
from studio.engine.engine_settings import engine_summary
from studio.engine.memory import MB, MemoryBudget
from studio.engine.runner import Runner
from tests.engine.test_model_cache import fake_cache, names, ref

GB = 1024 * MB


def test_configure_empties_the_cache_and_applies_the_new_budget():
    cache, loader = fake_cache({"a": 10, "b": 10}, ram_floats=100, max_models=4)
    judge, tables = object(), object()
    runner = Runner(cache, judge=judge, gamma_tables=tables)  # type: ignore[arg-type]
    watched = weakref.ref(cache.get(ref("a"))[0].pipe)
    cache.get(ref("b"))
    options = EngineOptions(device=Device.cpu, ram_budget_mb=64, gpu_budget_mb=0, max_models=1)
    summary = runner.configure(options)
    gc.collect()
    assert watched() is None, "the dropped model is released"
    assert names(cache) == [] and len(runner.models) == 0
    assert runner.models is not cache
    assert runner.models.budget.ram_bytes == 64 * MB and runner.models.capacity == 1
    assert runner.judge is judge and runner.gamma_tables is tables
    calls = len(loader.calls)
    runner.models.get(ref("a"))
    runner.models.get(ref("b"))
    assert len(loader.calls) == calls + 2, "the new cache loads with the same loader"
    assert names(runner.models) == ["b"], "and keeps one model, as asked"
    assert summary.startswith("Engine settings applied: CPU, no offload, RAM budget 64 MB,")


class StatusSink:
    """An EventSink that keeps the status lines it is told."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def offer_preview(self, lane: object, make: object) -> bool:
        return False

    def texts(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, EngineStatus)]


def test_a_reconfigured_runner_still_tells_its_loads_as_status_events():
    cache, _ = fake_cache({"a": 10}, ram_floats=100)
    runner = Runner(cache)
    options = EngineOptions(device=Device.cpu, ram_budget_mb=64, gpu_budget_mb=0, max_models=1)
    runner.configure(options)
    sink = StatusSink()
    runner.preload(ref("a"), sink)
    runner.preload(ref("a"), sink)
    assert runner.models is not cache and runner.models.capacity == 1
    assert sink.texts() == ["Loading a…", "Ready · a loaded on cpu in 0.0 s"], (
        "a fresh load is told before and after, a cached one not at all"
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_missing_device_changes_nothing():
    cache, _ = fake_cache({"a": 10}, ram_floats=100)
    runner = Runner(cache)
    cache.get(ref("a"))
    with pytest.raises(ValueError, match="CUDA was asked for"):
        runner.configure(EngineOptions(device=Device.cuda))
    assert runner.models is cache and names(cache) == ["a"]


def budget(ram_gb: float, gpu_gb: float = 0, models: int = 3) -> MemoryBudget:
    return MemoryBudget(ram_bytes=int(ram_gb * GB), gpu_bytes=int(gpu_gb * GB), max_models=models)


def on(monkeypatch, kind: str) -> None:
    monkeypatch.setattr(engine_settings, "pick_device", lambda choice: torch.device(kind))


def test_summary_on_an_automatic_cpu(monkeypatch):
    on(monkeypatch, "cpu")
    assert engine_summary(EngineOptions(), budget(11.9)) == (
        "Engine settings applied: CPU (automatic), no offload, RAM budget 11.9 GB (automatic), "
        "up to 3 models; models load again when next used."
    )


def test_summary_on_a_gpu_names_both_budgets(monkeypatch):
    on(monkeypatch, "cuda")
    options = EngineOptions(device=Device.cuda, ram_budget_mb=8192, max_models=1)
    assert engine_summary(options, budget(8, 16.8, models=1)) == (
        "Engine settings applied: CUDA GPU, no offload, RAM budget 8.0 GB, "
        "GPU budget 16.8 GB (automatic), up to 1 model; models load again when next used."
    )


def test_summary_says_why_an_offload_is_not_used(monkeypatch):
    on(monkeypatch, "mps")
    options = EngineOptions(offload=Offload.sequential, gpu_budget_mb=512)
    text = engine_summary(options, budget(4, 0.5))
    assert "Apple GPU (MPS) (automatic), no offload," in text
    assert "GPU budget 512 MB," in text
    assert text.endswith(
        "CPU offload (sequential) is only used with CUDA GPUs; on mps the GPU shares the CPU's "
        "memory, so the model is loaded whole."
    )
