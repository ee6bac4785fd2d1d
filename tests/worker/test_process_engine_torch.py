"""The process engine with the real runner (torch in the child): a comparison after a SIGKILL
mid-comparison is bit-identical to one made by a fresh process (slow: torch loads in both)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from studio.core.commands import Submit
from studio.core.events import JobFailed, JobFinished, LaneFinished, StepProgress
from studio.core.jobs import CompareJob, LaneSpec, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams
from studio.worker.process_engine import ProcessEngine
from tests.engine.tiny import save_tiny_sd_pipeline
from tests.worker.process_helpers import Recorder, child_pid, wait_gone
from tests.worker.reference_images import image_key, references

pytestmark = pytest.mark.slow


def tiny_compare(folder: Path, seed: int, steps: int) -> CompareJob:
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
    student = LaneSpec(model=model, params=params.with_(num_inference_steps=2))
    teacher = LaneSpec(model=model, params=params)
    return CompareJob(teacher=teacher, student=student, previews=PreviewOptions(every=1))


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
    lanes = [e for e in recorder.of(LaneFinished) if e.job_id == after.job_id]
    assert len(lanes) == 2
    for finished in lanes:
        image = np.stack(finished.images)
        assert np.array_equal(image, expected[image_key(after.job_id, finished.lane.value)])
