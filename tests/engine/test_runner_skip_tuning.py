"""The runner applies each lane's Skip-Tuning around pipe(...) and always takes it off again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from studio.core.events import LaneFinished, StepProgress
from studio.core.jobs import CompareJob, GenerateJob, Lane, LaneSpec, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams, ValidationError
from studio.core.skip_tuning import SkipTuning
from studio.engine.cancel import Cancelled, CancelToken
from studio.engine.model_cache import ModelCache
from studio.engine.runner import Runner
from studio.engine.sampling import denoiser

TUNED = SkipTuning(rho_top=1.0, rho_bottom=0.8)


class Sink:
    """An EventSink that keeps events and can act on a step."""

    def __init__(self, on_step=None) -> None:
        self.events: list = []
        self.on_step = on_step

    def emit(self, event) -> None:
        self.events.append(event)
        if self.on_step and isinstance(event, StepProgress):
            self.on_step(event)

    def offer_preview(self, lane, make) -> bool:
        return False

    def images(self, lane: Lane = Lane.main) -> np.ndarray:
        (finished,) = [e for e in self.events if isinstance(e, LaneFinished) and e.lane == lane]
        return finished.images[0]


def ref_of(folder: Path) -> ModelRef:
    return ModelRef(location=str(folder), source=ModelSource.folder)


@pytest.fixture(scope="module")
def runner() -> Runner:
    return Runner(ModelCache(capacity=3))


@pytest.fixture(params=["emoji", "sd"])
def model(request, tiny_emoji_folder, tiny_sd_folder) -> tuple[ModelRef, GenerationParams]:
    size = 32 if request.param == "emoji" else 64
    params = GenerationParams(
        prompt="grinning face",
        sampler="DDIM trailing",
        num_inference_steps=3,
        guidance_scale=2.0,
        seed=5,
        width=size,
        height=size,
    )
    folder = tiny_emoji_folder if request.param == "emoji" else tiny_sd_folder
    return ref_of(folder), params


def generate(runner: Runner, ref: ModelRef, params: GenerationParams, on_step=None) -> Sink:
    sink = Sink(on_step)
    job = GenerateJob(lane=LaneSpec(model=ref, params=params), previews=PreviewOptions(every=0))
    runner.run(job, CancelToken(), sink)
    return sink


def unet_hooks(runner: Runner, ref: ModelRef) -> int:
    unet = denoiser(runner.models.get(ref)[0].pipe)
    return sum(len(m._forward_pre_hooks) for m in unet.modules())


def test_factors_of_one_give_the_same_image(runner, model) -> None:
    ref, params = model
    plain = generate(runner, ref, params).images()
    same = generate(runner, ref, params.with_(skip_tuning=SkipTuning())).images()
    np.testing.assert_array_equal(plain, same)


def test_skip_tuning_changes_the_image_and_is_removed_after(runner, model) -> None:
    ref, params = model
    plain = generate(runner, ref, params).images()
    tuned = generate(runner, ref, params.with_(skip_tuning=TUNED)).images()
    assert not np.array_equal(plain, tuned)
    assert unet_hooks(runner, ref) == 0
    np.testing.assert_array_equal(generate(runner, ref, params).images(), plain)


def test_hooks_are_removed_after_a_cancel(runner, tiny_emoji_folder) -> None:
    ref = ref_of(tiny_emoji_folder)
    params = GenerationParams(
        prompt="x", sampler="Euler", num_inference_steps=6, width=32, height=32, skip_tuning=TUNED
    )
    token = CancelToken()
    sink = Sink(on_step=lambda event: token.cancel() if event.step == 2 else None)
    job = GenerateJob(lane=LaneSpec(model=ref, params=params), previews=PreviewOptions(every=0))
    with pytest.raises(Cancelled):
        runner.run(job, token, sink)
    assert unet_hooks(runner, ref) == 0


def test_hooks_are_removed_after_a_failure(runner, tiny_emoji_folder) -> None:
    ref = ref_of(tiny_emoji_folder)
    params = GenerationParams(
        prompt="x", sampler="Euler", num_inference_steps=4, width=32, height=32, skip_tuning=TUNED
    )

    def explode(event: StepProgress) -> None:
        seen = unet_hooks(runner, ref)
        raise RuntimeError(f"boom with {seen} hooks")

    with pytest.raises(RuntimeError, match="boom with") as caught:
        generate(runner, ref, params, on_step=explode)
    assert "with 0 hooks" not in str(caught.value), "the hooks were on during the run"
    assert unet_hooks(runner, ref) == 0


def test_each_lane_of_a_comparison_gets_its_own_setting(runner, tiny_emoji_folder) -> None:
    ref = ref_of(tiny_emoji_folder)
    base = GenerationParams(
        prompt="cat face", sampler="DDIM trailing", num_inference_steps=3, width=32, height=32
    )
    job = CompareJob(
        teacher=LaneSpec(model=ref, params=base),
        student=LaneSpec(model=ref, params=base.with_(skip_tuning=TUNED)),
        previews=PreviewOptions(every=0),
    )
    sink = Sink()
    runner.run(job, CancelToken(), sink)
    np.testing.assert_array_equal(sink.images(Lane.teacher), generate(runner, ref, base).images())
    tuned_alone = generate(runner, ref, base.with_(skip_tuning=TUNED)).images()
    np.testing.assert_array_equal(sink.images(Lane.student), tuned_alone)
    assert unet_hooks(runner, ref) == 0


def test_a_transformer_model_refuses_skip_tuning_clearly(runner, tiny_sd3_folder) -> None:
    ref = ref_of(tiny_sd3_folder)
    params = GenerationParams(
        prompt="x",
        sampler="Flow Euler",
        num_inference_steps=2,
        width=32,
        height=32,
        guidance_scale=1.0,
        skip_tuning=TUNED,
    )
    with pytest.raises(ValidationError, match="Skip-Tuning needs a UNet with skip connections"):
        generate(runner, ref, params)
    transformer = denoiser(runner.models.get(ref)[0].pipe)
    assert isinstance(transformer, torch.nn.Module)
    assert sum(len(m._forward_pre_hooks) for m in transformer.modules()) == 0
