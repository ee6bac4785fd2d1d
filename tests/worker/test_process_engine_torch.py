"""The process engine with the real runner (torch in the child): a comparison after the child
was killed (SIGKILL) or crashed (SIGSEGV) at any phase of a comparison is bit-identical to one
made by a fresh process, the killed job fails once, and a lane that finished before the crash
keeps its image (slow: torch loads in every child)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from studio.core.commands import Submit
from studio.core.events import Event, JobFailed, JobFinished, JobStarted, LaneFinished, StepProgress
from studio.core.jobs import CompareJob, Lane, LaneSpec, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams
from studio.worker.process_engine import ProcessEngine
from tests.engine.tiny import save_tiny_sd_pipeline
from tests.worker.process_helpers import Recorder, child_pid, wait_gone
from tests.worker.reference_images import image_key, references

pytestmark = pytest.mark.slow


def tiny_compare(folder: Path, seed: int, steps: int, student_steps: int = 2) -> CompareJob:
    params = GenerationParams(
        prompt="a red cube",
        sampler="Euler",
        num_inference_steps=steps,
        guidance_scale=2.0,
        seed=seed,
        width=64,
        height=64,
    )
    model = ModelRef(location=str(folder), source=ModelSource.folder)
    student = LaneSpec(model=model, params=params.with_(num_inference_steps=student_steps))
    teacher = LaneSpec(model=model, params=params)
    return CompareJob(teacher=teacher, student=student, previews=PreviewOptions(every=1))


def assert_exact(recorder: Recorder, job: CompareJob, expected: dict) -> None:
    """Both lanes of `job` finished with the images a fresh process makes."""
    lanes = [e for e in recorder.of(LaneFinished) if e.job_id == job.job_id]
    assert len(lanes) == 2
    for finished in lanes:
        image = np.stack(finished.images)
        assert np.array_equal(image, expected[image_key(job.job_id, finished.lane.value)])


def test_a_comparison_after_a_kill_matches_a_fresh_process(tmp_path: Path) -> None:
    folder = save_tiny_sd_pipeline(tmp_path / "tiny-sd")
    killed, after = tiny_compare(folder, 3, steps=400), tiny_compare(folder, 4, steps=5)

    async def scenario() -> Recorder:
        engine = ProcessEngine()
        recorder = Recorder(engine).start()
        engine.send(Submit(job=killed))
        engine.send(Submit(job=after))
        pid = await child_pid(engine)
        await recorder.until(lambda events: recorder.of(StepProgress), timeout=120.0)
        os.kill(pid, signal.SIGKILL)
        await recorder.finals(2, timeout=120.0)
        await recorder.stop()
        assert wait_gone(pid)
        return recorder

    recorder = asyncio.run(scenario())
    assert isinstance(recorder.final_of(killed.job_id), JobFailed)
    assert isinstance(recorder.final_of(after.job_id), JobFinished)
    expected = references([after])
    assert_exact(recorder, after, expected)


PHASES = {
    "loading (job started)": lambda e: isinstance(e, JobStarted),
    "teacher step 1": lambda e: isinstance(e, StepProgress) and e.lane is Lane.teacher,
    "teacher middle step": lambda e: (
        isinstance(e, StepProgress) and e.lane is Lane.teacher and e.step == 4
    ),
    "teacher's last step (decoding)": lambda e: (
        isinstance(e, StepProgress) and e.lane is Lane.teacher and e.step == 8
    ),
    "between the lanes": lambda e: isinstance(e, LaneFinished) and e.lane is Lane.teacher,
    "student step": lambda e: isinstance(e, StepProgress) and e.lane is Lane.student,
}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> tuple[Path, CompareJob, dict]:
    folder = save_tiny_sd_pipeline(tmp_path_factory.mktemp("phases") / "tiny-sd")
    after = tiny_compare(folder, 5, steps=5)
    return folder, after, references([after])


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV], ids=["SIGKILL", "SIGSEGV"])
@pytest.mark.parametrize("phase", list(PHASES))
def test_a_crash_at_each_phase_fails_one_job_and_the_next_is_exact(pipeline, phase, sig) -> None:
    folder, after, expected = pipeline
    killed = tiny_compare(folder, 3, steps=8, student_steps=60)
    at = PHASES[phase]

    async def scenario() -> Recorder:
        engine = ProcessEngine()
        recorder = Recorder(engine).start()
        engine.send(Submit(job=killed))
        engine.send(Submit(job=after))
        pid = await child_pid(engine)

        def reached(events: list[Event]) -> bool:
            return any(e.job_id == killed.job_id and at(e) for e in events)

        await recorder.until(reached, timeout=120.0)
        os.kill(pid, sig)
        await recorder.finals(2, timeout=120.0)
        await recorder.stop()
        assert wait_gone(pid)
        return recorder

    recorder = asyncio.run(scenario())
    failed = recorder.final_of(killed.job_id)
    assert isinstance(failed, JobFailed), failed
    assert signal.Signals(sig).name in failed.message
    assert isinstance(recorder.final_of(after.job_id), JobFinished)
    kept = [e for e in recorder.of(LaneFinished) if e.job_id == killed.job_id]
    if phase in ("between the lanes", "student step"):
        assert [e.lane for e in kept] == [Lane.teacher], "the finished lane's image is kept"
    assert_exact(recorder, after, expected)
