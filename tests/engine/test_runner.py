"""The runner on tiny pipelines: seeds, shared noise, observer, previews, cancel and timings."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from studio.core.events import (
    CompareFinished,
    LaneFinished,
    ModelLoaded,
    PreviewReady,
    StepProgress,
)
from studio.core.jobs import CompareJob, GenerateJob, Lane, LaneSpec, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams, ValidationError
from studio.engine.cancel import Cancelled, CancelToken
from studio.engine.model_cache import ModelCache
from studio.engine.runner import Runner
from tests.engine.tiny import save_tiny_emoji_pipeline, save_tiny_sd_pipeline


class Collector:
    """An EventSink that keeps everything and can trigger a callback at a given step."""

    def __init__(self, on_step=None):
        self.events = []
        self.on_step = on_step
        self.lock = threading.Lock()

    def emit(self, event):
        self.events.append(event)
        if self.on_step and isinstance(event, StepProgress):
            self.on_step(event)

    def offer_preview(self, lane, make):
        self.events.append(make())
        return True

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture(scope="module")
def sd_ref(tmp_path_factory) -> ModelRef:
    folder = save_tiny_sd_pipeline(tmp_path_factory.mktemp("sd") / "tiny-sd")
    return ModelRef(location=str(folder), source=ModelSource.folder)


@pytest.fixture(scope="module")
def emoji_ref(tmp_path_factory) -> ModelRef:
    folder = save_tiny_emoji_pipeline(tmp_path_factory.mktemp("emoji") / "tiny-emoji")
    return ModelRef(location=str(folder), source=ModelSource.folder)


@pytest.fixture(scope="module")
def runner() -> Runner:
    return Runner(ModelCache(capacity=3))


def sd_params(**kw) -> GenerationParams:
    base = dict(
        prompt="a red cube",
        sampler="Euler",
        num_inference_steps=3,
        guidance_scale=2.0,
        seed=7,
        width=64,
        height=64,
    )
    return GenerationParams(**{**base, **kw})


def emoji_params(**kw) -> GenerationParams:
    base = dict(
        prompt="grinning face",
        sampler="DDIM trailing",
        num_inference_steps=3,
        guidance_scale=2.0,
        seed=7,
        width=32,
        height=32,
    )
    return GenerationParams(**{**base, **kw})


def generate(runner, ref, params, every=1, on_step=None, token=None):
    sink = Collector(on_step)
    job = GenerateJob(lane=LaneSpec(model=ref, params=params), previews=PreviewOptions(every=every))
    outcome = runner.run(job, token or CancelToken(), sink)
    return outcome, sink


def image(sink) -> np.ndarray:
    return sink.of(LaneFinished)[-1].images[0]


@pytest.mark.parametrize("model", ["sd", "emoji"])
def test_same_seed_same_image_other_seed_differs(runner, sd_ref, emoji_ref, model):
    ref, make = (sd_ref, sd_params) if model == "sd" else (emoji_ref, emoji_params)
    a = image(generate(runner, ref, make(seed=1))[1])
    b = image(generate(runner, ref, make(seed=1))[1])
    c = image(generate(runner, ref, make(seed=2))[1])
    assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
    assert not a.flags.writeable
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_observer_sees_every_step_and_times_each(runner, emoji_ref):
    outcome, sink = generate(runner, emoji_ref, emoji_params(num_inference_steps=5))
    steps = sink.of(StepProgress)
    assert [s.step for s in steps] == [1, 2, 3, 4, 5]
    assert all(s.total == 5 for s in steps)
    finished = sink.of(LaneFinished)[0]
    assert finished.steps == 5 and len(finished.timings.step_s) == 5
    t = finished.timings
    assert t.encode_s > 0 and t.decode_s >= 0 and t.total_s >= t.denoise_s
    assert not outcome.stopped


@pytest.mark.parametrize("model,shape", [("sd", (32, 32, 3)), ("emoji", (32, 32, 3))])
def test_previews_of_x_t_and_x0(runner, sd_ref, emoji_ref, model, shape):
    ref, make = (sd_ref, sd_params) if model == "sd" else (emoji_ref, emoji_params)
    _, sink = generate(runner, ref, make(num_inference_steps=4), every=2)
    previews = sink.of(PreviewReady)
    assert [p.step for p in previews] == [2, 4]
    for p in previews:
        assert p.x_t.shape == shape and p.x_t.dtype == np.uint8
        assert p.x0 is not None and p.x0.shape == shape
        assert p.x_t.std() > 0, "a preview of noise is not flat"


def test_previews_off(runner, emoji_ref):
    _, sink = generate(runner, emoji_ref, emoji_params(), every=0)
    assert sink.of(PreviewReady) == []


def test_compare_shares_noise_and_reports(runner, emoji_ref):
    params = emoji_params(num_inference_steps=4)
    job = CompareJob(
        teacher=LaneSpec(model=emoji_ref, params=params),
        student=LaneSpec(model=emoji_ref, params=params),
        previews=PreviewOptions(every=0),
    )
    sink = Collector()
    runner.run(job, CancelToken(), sink)
    lanes = {e.lane: e for e in sink.of(LaneFinished)}
    assert set(lanes) == {Lane.teacher, Lane.student}
    np.testing.assert_array_equal(lanes[Lane.teacher].images[0], lanes[Lane.student].images[0])
    result = sink.of(CompareFinished)[0]
    assert result.psnr == float("inf") and result.ssim == pytest.approx(1.0)
    assert result.speedup > 0


def test_compare_lanes_differ_only_by_recipe(runner, emoji_ref):
    teacher = emoji_params(num_inference_steps=6)
    student = emoji_params(num_inference_steps=2, sampler="Euler trailing")
    job = CompareJob(
        teacher=LaneSpec(model=emoji_ref, params=teacher),
        student=LaneSpec(model=emoji_ref, params=student),
        previews=PreviewOptions(every=0),
    )
    sink = Collector()
    runner.run(job, CancelToken(), sink)
    solo = image(generate(runner, emoji_ref, student, every=0)[1])
    lanes = {e.lane: e for e in sink.of(LaneFinished)}
    np.testing.assert_array_equal(lanes[Lane.student].images[0], solo)
    assert np.isfinite(sink.of(CompareFinished)[0].psnr)


def test_cancel_discard_within_one_step_then_fresh_result(runner, emoji_ref):
    params = emoji_params(num_inference_steps=20)
    token = CancelToken()
    seen = []

    def on_step(event):
        seen.append(event.step)
        if event.step == 3:
            token.cancel()

    with pytest.raises(Cancelled):
        generate(runner, emoji_ref, params, on_step=on_step, token=token)
    assert max(seen) <= 4
    after = image(generate(runner, emoji_ref, params, every=0)[1])
    fresh = image(generate(Runner(ModelCache()), emoji_ref, params, every=0)[1])
    np.testing.assert_array_equal(after, fresh)


@pytest.mark.parametrize("model", ["sd", "emoji"])
def test_stop_and_keep_returns_partial(runner, sd_ref, emoji_ref, model):
    ref, make = (sd_ref, sd_params) if model == "sd" else (emoji_ref, emoji_params)
    token = CancelToken()

    def on_step(event):
        if event.step == 2:
            token.cancel(keep_partial=True)

    outcome, sink = generate(
        runner, ref, make(num_inference_steps=10), on_step=on_step, token=token
    )
    finished = sink.of(LaneFinished)[0]
    assert outcome.stopped and finished.partial
    assert finished.steps == 3
    assert finished.images[0].dtype == np.uint8


def test_cancel_before_start_loads_nothing(emoji_ref):
    token = CancelToken()
    token.cancel()
    cache = ModelCache()
    with pytest.raises(Cancelled):
        generate(Runner(cache), emoji_ref, emoji_params(), token=token)
    assert emoji_ref not in cache


def test_invalid_params_rejected_before_loading(runner, emoji_ref):
    with pytest.raises(ValidationError, match="multiple of 8"):
        generate(runner, emoji_ref, emoji_params(width=30))


def test_model_loaded_event_once(emoji_ref):
    runner = Runner(ModelCache())
    _, first = generate(runner, emoji_ref, emoji_params())
    _, second = generate(runner, emoji_ref, emoji_params())
    assert len(first.of(ModelLoaded)) == 1 and second.of(ModelLoaded) == []


def test_missing_model_folder_is_a_clear_error(runner, tmp_path: Path):
    from studio.engine.loading import ModelLoadError

    ref = ModelRef(location=str(tmp_path / "nope"), source=ModelSource.folder)
    with pytest.raises(ModelLoadError):
        generate(runner, ref, emoji_params())


def test_lane_timings_carry_the_load_only_when_this_job_loaded(emoji_ref):
    runner = Runner(ModelCache())
    _, first = generate(runner, emoji_ref, emoji_params())
    _, second = generate(runner, emoji_ref, emoji_params())
    assert first.of(LaneFinished)[0].timings.load_s > 0
    assert second.of(LaneFinished)[0].timings.load_s == 0
