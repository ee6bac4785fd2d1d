"""Engine settings applied live: Configure runs between jobs, on the engine thread, and the
next job loads its model again under the new settings; a failure leaves the old ones working."""

from __future__ import annotations

import asyncio
import queue
from typing import Any

import pytest
import torch

from studio.core.commands import Configure, Submit
from studio.core.engine_options import Device, EngineOptions
from studio.core.events import (
    EngineConfigured,
    JobFailed,
    JobFinished,
    JobStarted,
    ModelLoaded,
)
from studio.core.jobs import GenerateJob, LaneSpec
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams
from studio.engine.loading import load_pipeline
from studio.engine.memory import MB, MemoryBudget
from studio.engine.model_cache import ModelCache
from studio.engine.runner import Runner
from studio.worker.host import CANNOT_CONFIGURE, EngineHost
from tests.engine.tiny import save_tiny_sd_pipeline
from tests.worker.test_faults import DyingQueue
from tests.worker.test_host import FINAL, ScriptedRunner, make_job

SMALL = EngineOptions(device=Device.cpu, ram_budget_mb=512, max_models=2)


class ConfigurableRunner(ScriptedRunner):
    """A scripted runner that records, in order with its jobs, the settings it was given;
    `refuse` makes `configure` raise it instead."""

    def __init__(self, refuse: Exception | None = None) -> None:
        super().__init__(steps=3, step_s=0.02)
        self.refuse = refuse
        self.options: list[EngineOptions] = []

    def configure(self, options: EngineOptions) -> str:
        if self.refuse is not None:
            raise self.refuse
        self.ran.append("configure")
        self.options.append(options)
        return f"applied {options.max_models}"


async def follow(host: EngineHost, finals: int, configured: int = 0) -> list[Any]:
    """Every event until `finals` jobs ended and `configured` settings were applied or refused."""
    events: list[Any] = []
    async for event in host.listen():
        events.append(event)
        ended = sum(isinstance(e, FINAL) and bool(e.job_id) for e in events)
        answers = sum(
            isinstance(e, EngineConfigured) or (isinstance(e, JobFailed) and not e.job_id)
            for e in events
        )
        if ended >= finals and answers >= configured:
            return events
    return events


def test_configure_waits_for_the_running_and_queued_jobs(hosts):
    runner = ConfigurableRunner()
    host = EngineHost(runner_factory=lambda: runner)
    hosts.append(host)
    first, second, third = make_job(seed=1), make_job(seed=2), make_job(seed=3)
    host.send(Submit(job=first))
    host.send(Submit(job=second))
    host.send(Configure(options=SMALL))
    host.send(Submit(job=third))
    events = asyncio.run(follow(host, finals=3, configured=1))
    assert runner.ran == [first.job_id, second.job_id, "configure", third.job_id]
    assert runner.options == [SMALL]
    order = [
        (type(e).__name__, e.job_id)
        for e in events
        if isinstance(e, JobFinished | JobStarted | EngineConfigured)
    ]
    at = order.index(("EngineConfigured", ""))
    assert order[at - 1] == ("JobFinished", second.job_id)
    assert order[at + 1] == ("JobStarted", third.job_id)
    configured = next(e for e in events if isinstance(e, EngineConfigured))
    assert (configured.summary, configured.options) == ("applied 2", SMALL)


def test_a_refused_configure_says_why_and_the_next_job_runs(hosts):
    runner = ConfigurableRunner(ValueError("CUDA was asked for, but this machine has none."))
    host = EngineHost(runner_factory=lambda: runner)
    hosts.append(host)
    job = make_job(seed=1)
    host.send(Configure(options=SMALL))
    host.send(Submit(job=job))
    events = asyncio.run(follow(host, finals=1, configured=1))
    failed = [e for e in events if isinstance(e, JobFailed)]
    assert [e.job_id for e in failed] == [""]
    assert failed[0].message == (
        "Engine settings not applied: CUDA was asked for, but this machine has none. "
        "The engine keeps its previous settings."
    )
    assert not any(isinstance(e, EngineConfigured) for e in events)
    assert runner.ran == [job.job_id] and runner.options == []


def test_an_unexpected_configure_error_names_its_type(hosts):
    runner = ConfigurableRunner(RuntimeError("a broken cache"))
    host = EngineHost(runner_factory=lambda: runner)
    hosts.append(host)
    host.send(Configure(options=SMALL))
    events = asyncio.run(follow(host, finals=0, configured=1))
    message = next(e.message for e in events if isinstance(e, JobFailed))
    assert message.startswith("Engine settings not applied: RuntimeError: a broken cache")


def test_a_runner_that_cannot_configure_says_so(hosts):
    host = EngineHost(runner_factory=ScriptedRunner)
    hosts.append(host)
    host.send(Configure(options=SMALL))
    events = asyncio.run(follow(host, finals=0, configured=1))
    assert [e.message for e in events if isinstance(e, JobFailed)] == [CANNOT_CONFIGURE]


def test_a_closed_engine_refuses_settings():
    host = EngineHost(runner_factory=ConfigurableRunner)
    host.close()
    with pytest.raises(RuntimeError, match="shut down"):
        host.send(Configure(options=SMALL))


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_revived_engine_thread_keeps_the_applied_settings(hosts):
    built: list[ConfigurableRunner] = []

    def factory() -> ConfigurableRunner:
        built.append(ConfigurableRunner())
        return built[-1]

    host = EngineHost(runner_factory=factory)
    hosts.append(host)
    host.send(Configure(options=SMALL))
    asyncio.run(follow(host, finals=0, configured=1))
    old: queue.Queue[Any] = host._queue
    host._queue = DyingQueue()
    old.put(make_job(seed=9))  # wakes the thread; unknown to the host, so nothing runs
    host._thread.join(5)
    assert not host.alive
    assert host.revive()
    events = asyncio.run(follow(host, finals=0, configured=1))
    assert [e.options for e in events if isinstance(e, EngineConfigured)] == [SMALL]
    assert len(built) == 2 and built[1].options == [SMALL]


# --- a real runner on a tiny pipeline -----------------------------------------------------


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory: pytest.TempPathFactory) -> ModelRef:
    folder = save_tiny_sd_pipeline(tmp_path_factory.mktemp("models") / "tiny-sd")
    return ModelRef(location=str(folder), source=ModelSource.folder)


def tiny_job(model: ModelRef) -> GenerateJob:
    params = GenerationParams(
        prompt="a red cube", sampler="Euler", num_inference_steps=2, width=64, height=64
    )
    return GenerateJob(lane=LaneSpec(model=model, params=params))


def test_the_next_job_loads_its_model_again_under_the_new_settings(hosts, tiny_sd: ModelRef):
    torch.set_num_threads(1)
    budget = MemoryBudget(ram_bytes=1 << 30, gpu_bytes=0, max_models=3)
    runner = Runner(ModelCache(loader=load_pipeline, device="cpu", budget=budget))
    host = EngineHost(runner_factory=lambda: runner)
    hosts.append(host)
    host.send(Submit(job=tiny_job(tiny_sd)))
    host.send(Configure(options=SMALL))
    host.send(Submit(job=tiny_job(tiny_sd)))
    events = asyncio.run(follow(host, finals=2, configured=1))
    kinds = [type(e) for e in events if isinstance(e, ModelLoaded | EngineConfigured)]
    assert kinds == [ModelLoaded, EngineConfigured, ModelLoaded]
    assert [type(e) for e in events if isinstance(e, FINAL)] == [JobFinished, JobFinished]
    summary = next(e.summary for e in events if isinstance(e, EngineConfigured))
    assert summary.startswith("Engine settings applied: CPU, no offload, RAM budget 512 MB")
    assert "up to 2 models" in summary
    assert runner.models.budget == MemoryBudget(ram_bytes=512 * MB, gpu_bytes=0, max_models=2)
    assert list(runner.models) == [tiny_sd]


def test_asking_for_a_missing_device_keeps_the_cached_models(hosts, tiny_sd: ModelRef):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    runner = Runner(ModelCache(loader=load_pipeline, device="cpu", capacity=2))
    cache = runner.models
    host = EngineHost(runner_factory=lambda: runner)
    hosts.append(host)
    host.send(Submit(job=tiny_job(tiny_sd)))
    host.send(Configure(options=EngineOptions(device=Device.cuda)))
    events = asyncio.run(follow(host, finals=1, configured=1))
    message = next(e.message for e in events if isinstance(e, JobFailed) and not e.job_id)
    assert "CUDA was asked for, but this machine has no usable CUDA device" in message
    assert runner.models is cache and list(cache) == [tiny_sd]
