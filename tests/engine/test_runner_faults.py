"""The runner under injected faults inside `pipe(...)`: an exception, an out-of-memory error and
NaN outputs. A faulty lane raises (NaN is never turned into a black image), emits no finished
image, and the next run of the same job gives the same image as before the fault."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import torch

from studio.core.events import LaneFinished
from studio.core.jobs import CompareJob, GenerateJob, Lane, LaneSpec, PreviewOptions
from studio.core.models import ModelRef
from studio.engine import runner as runner_module
from studio.engine.cancel import CancelToken
from studio.engine.finite import NonFiniteImage
from studio.engine.model_cache import ModelCache
from studio.engine.runner import Runner
from studio.engine.sampling import denoiser
from studio.worker.failures import OUT_OF_MEMORY, describe_failure
from tests.engine.test_runner import Collector, emoji_params, emoji_ref, sd_params, sd_ref

__all__ = ["emoji_ref", "sd_ref"]
Fault = Callable[[int, tuple[Any, ...]], tuple[Any, ...] | None]


@pytest.fixture(scope="module")
def runner() -> Runner:
    return Runner(ModelCache(capacity=3))


@contextmanager
def fault_in(runner: Runner, ref: ModelRef, fault: Fault) -> Iterator[None]:
    """Run `fault(call_number, args)` before each denoiser call of the model at `ref`."""
    loaded, _ = runner.models.get(ref)
    calls = [0]

    def hook(module: Any, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        calls[0] += 1
        return fault(calls[0], args)

    handle = denoiser(loaded.pipe).register_forward_pre_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def raise_at(call: int, error: BaseException) -> Fault:
    def fault(number: int, args: tuple[Any, ...]) -> None:
        if number == call:
            raise error

    return fault


def nan_from(call: int) -> Fault:
    def fault(number: int, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        if number < call:
            return None
        return (torch.full_like(args[0], float("nan")), *args[1:])

    return fault


def job_for(ref: ModelRef, params: Any) -> GenerateJob:
    return GenerateJob(lane=LaneSpec(model=ref, params=params), previews=PreviewOptions(every=1))


def run(runner: Runner, job: Any) -> Collector:
    sink = Collector()
    runner.run(job, CancelToken(), sink)
    return sink


def image_of(sink: Collector) -> np.ndarray:
    return sink.of(LaneFinished)[-1].images[0]


@pytest.mark.parametrize("model", ["sd", "emoji"])
@pytest.mark.parametrize("first_bad_call", [1, 3])
def test_nan_output_fails_the_lane_instead_of_a_black_image(
    runner, sd_ref, emoji_ref, model, first_bad_call
):
    ref, params = (sd_ref, sd_params()) if model == "sd" else (emoji_ref, emoji_params())
    job = job_for(ref, params)
    before = image_of(run(runner, job))
    sink = Collector()
    with fault_in(runner, ref, nan_from(first_bad_call)), pytest.raises(NonFiniteImage) as caught:
        runner.run(job, CancelToken(), sink)
    assert sink.of(LaneFinished) == []
    message = describe_failure(caught.value)
    assert "NaN" in message and "nothing was saved" in message and "try" in message
    assert message.count(". ") == 0 and message.endswith(".")
    np.testing.assert_array_equal(image_of(run(runner, job)), before)


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (RuntimeError("CUDA error: device-side assert triggered"), "RuntimeError: CUDA error"),
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"), OUT_OF_MEMORY),
    ],
    ids=["exception", "out-of-memory"],
)
def test_a_fault_inside_the_pipeline_leaves_the_runner_clean(
    runner, emoji_ref, monkeypatch, error, words
):
    released = []
    monkeypatch.setattr(runner_module, "release_memory", lambda: released.append(True))
    job = job_for(emoji_ref, emoji_params())
    before = image_of(run(runner, job))
    with fault_in(runner, emoji_ref, raise_at(2, error)), pytest.raises(type(error)) as caught:
        run(runner, job)
    assert words in describe_failure(caught.value)
    runner.after_failure()
    assert released == [True]
    loaded, _ = runner.models.get(emoji_ref)
    assert not denoiser(loaded.pipe)._forward_pre_hooks, "the runner's own hooks are removed"
    np.testing.assert_array_equal(image_of(run(runner, job)), before)


def test_a_nan_teacher_keeps_the_students_image_and_fails_the_job(runner, emoji_ref):
    """A comparison runs its student first; a teacher that turns to NaN afterwards fails the
    job and leaves the student's finished image."""
    teacher = LaneSpec(model=emoji_ref, params=emoji_params(num_inference_steps=3))
    student = LaneSpec(model=emoji_ref, params=emoji_params(num_inference_steps=2))
    job = CompareJob(teacher=teacher, student=student, previews=PreviewOptions(every=0))
    sink = Collector()
    student_calls = 2  # one batched (guided) denoiser call per step
    with (
        fault_in(runner, emoji_ref, nan_from(student_calls + 1)),
        pytest.raises(NonFiniteImage, match="teacher lane"),
    ):
        runner.run(job, CancelToken(), sink)
    finished = sink.of(LaneFinished)
    assert [e.lane for e in finished] == [Lane.student]
    assert np.isfinite(finished[0].images[0]).all() and finished[0].images[0].any()
