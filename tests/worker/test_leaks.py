"""Nothing a job allocates outlives it: tensors, observers, events and frames are gone after
finished and cancelled jobs, and RSS stays flat (benchmarks/stress/leaks.py runs 200 on the
embedded pair)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
import torch

from benchmarks.stress.leaks import Generations, census, fit
from studio.core.gallery import GalleryStore
from studio.core.jobs import GenerateJob, Job, LaneSpec, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams
from studio.engine.loading import load_pipeline
from studio.engine.model_cache import ModelCache
from studio.engine.runner import Runner
from studio.viewmodels.session import SessionViewModel
from studio.worker.host import EngineHost
from tests.engine.tiny import save_tiny_sd_pipeline

# What one job makes and must let go of; the gallery's saved items are kept on purpose.
PER_JOB = (
    "Tensor",
    "Parameter",
    "ndarray",
    "Generator",
    "StepObserver",
    "SchedulerTap",
    "CancelToken",
    "Cancelled",
    "EulerDiscreteScheduler",
    "RemovableHandle",
    "LaneFinished",
    "PreviewReady",
    "StepProgress",
    "JobRecord",
    "frame",
    "traceback",
)


def tiny_runner() -> Runner:
    torch.set_num_threads(1)
    return Runner(ModelCache(capacity=1, loader=load_pipeline))


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory: pytest.TempPathFactory) -> ModelRef:
    folder = save_tiny_sd_pipeline(tmp_path_factory.mktemp("models") / "tiny-sd")
    return ModelRef(location=str(folder), source=ModelSource.folder)


def make_jobs(model: ModelRef):
    rng = random.Random(3)

    def make(index: int) -> Job:
        params = GenerationParams(
            prompt=f"a red cube {index % 3}",
            sampler="Euler",
            num_inference_steps=8,
            guidance_scale=2.0,
            seed=rng.randrange(2**32),
            width=64,
            height=64,
        )
        lane = LaneSpec(model=model, params=params)
        return GenerateJob(lane=lane, previews=PreviewOptions(every=1))

    return make


async def generate(gens: Generations, host: EngineHost, warmup: int, count: int):
    consumer = asyncio.ensure_future(gens.consume())
    await gens.run(warmup)
    before = census()
    await gens.run(count)
    after = census()
    host.close()
    await asyncio.wait_for(consumer, 30)
    return before, after


def test_jobs_leave_nothing_behind(qapp, tmp_path: Path, tiny_sd: ModelRef) -> None:
    host = EngineHost(runner_factory=tiny_runner)
    session = SessionViewModel(host, GalleryStore(tmp_path / "gallery"))
    gens = Generations(host, session, make_jobs(tiny_sd), cancel_every=3)
    before, after = asyncio.run(generate(gens, host, warmup=4, count=24))
    grew = {name: after[name] - before[name] for name in PER_JOB if after[name] > before[name]}
    assert grew == {}
    # One final event per job. A cancel is sent from the UI thread when a step's progress
    # arrives, so on a loaded machine the worker may finish a job first: that job then counts
    # as finished, with its image saved, and never as both.
    finished, cancelled = gens.finals["JobFinished"], gens.finals["JobCancelled"]
    assert (
        finished + cancelled == 28 + gens.cancelled
        and sum(gens.finals.values()) == 28 + gens.cancelled
    )
    assert cancelled >= 10
    assert len(list((tmp_path / "gallery").glob("*.png"))) == finished
    assert not session.busy and session.gallery.unsaved == []
    result = fit(gens.samples, warmup=4)
    assert result.flat, result


def test_fit_finds_a_leak_and_a_flat_line() -> None:
    leaking = [500.0 + 2.0 * i for i in range(40)]
    flat = [500.0 + (3.0 if i % 2 else -3.0) for i in range(40)]
    assert fit(leaking, warmup=10).slope_mb == pytest.approx(2.0)
    assert not fit(leaking, warmup=10).flat
    assert fit(flat, warmup=10).flat
    assert fit([900.0] * 5 + [400.0] * 5 + [550.0] * 5, warmup=5).growth_mb == 150.0
