"""The x0 tap keeps `scheduler.step`'s signature, so pipelines still pass it eta and generator."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from diffusers import DDIMScheduler

from studio.core.events import LaneFinished
from studio.core.jobs import GenerateJob, LaneSpec, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams
from studio.engine.cancel import CancelToken
from studio.engine.model_cache import ModelCache
from studio.engine.runner import Runner
from studio.engine.x0 import SchedulerTap
from tests.engine.tiny import save_tiny_sd_pipeline


class Keep:
    def __init__(self) -> None:
        self.images: list[np.ndarray] = []

    def emit(self, event) -> None:
        if isinstance(event, LaneFinished):
            self.images.append(event.images[0])

    def offer_preview(self, lane, make) -> bool:
        return False


def test_the_tapped_step_shows_the_original_parameters():
    scheduler = DDIMScheduler()
    with SchedulerTap(scheduler):
        parameters = inspect.signature(scheduler.step).parameters
    assert {"eta", "generator"} <= set(parameters)


@pytest.fixture(scope="module")
def runner_and_ref(tmp_path_factory):
    folder = save_tiny_sd_pipeline(tmp_path_factory.mktemp("tap") / "tiny-sd")
    return Runner(ModelCache(capacity=1)), ModelRef(location=str(folder), source=ModelSource.folder)


def run(runner_and_ref, sampler: str, eta: float = 0.0) -> np.ndarray:
    runner, ref = runner_and_ref
    params = GenerationParams(
        prompt="a cube", sampler=sampler, num_inference_steps=3, eta=eta, width=32, height=32
    )
    sink = Keep()
    job = GenerateJob(lane=LaneSpec(model=ref, params=params), previews=PreviewOptions(every=1))
    runner.run(job, CancelToken(), sink)
    return sink.images[0]


@pytest.mark.parametrize("sampler", ["DDPM", "Euler a"])
def test_stochastic_samplers_repeat_for_one_seed(runner_and_ref, sampler):
    np.testing.assert_array_equal(run(runner_and_ref, sampler), run(runner_and_ref, sampler))


def test_eta_reaches_ddim(runner_and_ref):
    assert not np.array_equal(run(runner_and_ref, "DDIM", 0.0), run(runner_and_ref, "DDIM", 1.0))
