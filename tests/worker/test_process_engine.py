"""ProcessEngine with the pretend runner in a real child process: round trips, cancel,
preview credits, crashes and restarts, shutdown, orphans, and exactly-once job endings."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from studio.core.commands import Cancel, Configure, Submit
from studio.core.engine_options import EngineOptions
from studio.core.events import (
    CompareFinished,
    EngineConfigured,
    EngineStatus,
    EngineStopped,
    JobCancelled,
    JobFailed,
    JobFinished,
    LaneFinished,
    PreviewReady,
    StepProgress,
)
from studio.core.jobs import Lane
from studio.worker.engine_child import RESTARTED, options_of
from studio.worker.pretend_runner import pretend_image, pretend_preview
from studio.worker.process_engine import ProcessEngine
from tests.worker.process_helpers import (
    Recorder,
    child_pid,
    compare,
    generate,
    process_gone,
    wait_gone,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def engines():
    """Process engines a test starts; each is closed after it, and leaves no process."""
    made: list[ProcessEngine] = []

    def make(**kwargs) -> ProcessEngine:
        engine = ProcessEngine(runner="pretend", **kwargs)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        pid = engine.child_pid
        engine.close()
        assert not engine.alive
        assert pid is None or wait_gone(pid, 3.0)


def run(coroutine) -> None:
    asyncio.run(coroutine)


def test_a_comparison_round_trips_with_identical_images_and_previews(engines) -> None:
    async def scenario() -> None:
        job = compare("sleep=0.05", "sleep=0.05", steps=4, seed=11)
        engine = engines()
        recorder = Recorder(engine).start()
        engine.send(Submit(job=job))
        await recorder.finals(1)
        await recorder.stop()
        assert isinstance(recorder.final_of(job.job_id), JobFinished)
        for finished in recorder.of(LaneFinished):
            assert (
                finished.images[0].tobytes() == pretend_image(11, finished.lane, 16, 16).tobytes()
            )
            assert not finished.images[0].flags.writeable
        assert {f.lane for f in recorder.of(LaneFinished)} == {Lane.teacher, Lane.student}
        previews = recorder.of(PreviewReady)
        assert previews
        for preview in previews:
            expected = pretend_preview(11, preview.lane, preview.step)
            assert np.array_equal(preview.x_t, expected)
            assert np.array_equal(preview.x0, expected[::-1])
        assert len(recorder.of(CompareFinished)) == 1
        assert isinstance(recorder.events[-1], EngineStopped)

    run(scenario())


def test_cancel_reaches_the_running_job_within_a_step(engines) -> None:
    async def scenario() -> None:
        job = generate("sleep=0.05", steps=200)
        engine = engines()
        recorder = Recorder(engine).start()
        engine.send(Submit(job=job))
        await recorder.until(lambda events: recorder.of(StepProgress))
        engine.send(Cancel(job_id=job.job_id))
        asked, steps_then = time.monotonic(), len(recorder.of(StepProgress))
        await recorder.finals(1)
        assert time.monotonic() - asked < 2.0
        assert len(recorder.of(StepProgress)) - steps_then <= 3
        final = recorder.final_of(job.job_id)
        assert isinstance(final, JobCancelled) and not final.kept_partial
        assert not recorder.of(LaneFinished)
        await recorder.stop()

    run(scenario())


def test_stop_and_keep_ends_with_the_partial_image(engines) -> None:
    async def scenario() -> None:
        job = generate("sleep=0.05", steps=200, seed=5)
        engine = engines()
        recorder = Recorder(engine).start()
        engine.send(Submit(job=job))
        await recorder.until(lambda events: recorder.of(StepProgress))
        engine.send(Cancel(job_id=job.job_id, keep_partial=True))
        await recorder.finals(1)
        final = recorder.final_of(job.job_id)
        assert isinstance(final, JobCancelled) and final.kept_partial
        (finished,) = recorder.of(LaneFinished)
        assert finished.partial and finished.steps < 200
        assert finished.images[0].tobytes() == pretend_image(5, Lane.main, 16, 16).tobytes()
        await recorder.stop()

    run(scenario())


def test_a_child_killed_while_idle_is_restarted_and_runs_the_next_job(engines) -> None:
    async def scenario() -> None:
        engine = engines()
        recorder = Recorder(engine).start()
        first = await child_pid(engine)
        os.kill(first, signal.SIGKILL)
        await recorder.until(
            lambda events: any(getattr(e, "text", "") == RESTARTED for e in events)
        )
        (status,) = [e for e in recorder.of(EngineStatus) if "SIGKILL" in e.text]
        assert status.text.endswith("; restarting it…")
        job = generate(steps=2)
        engine.send(Submit(job=job))
        await recorder.finals(1)
        assert isinstance(recorder.final_of(job.job_id), JobFinished)
        assert engine.child_pid != first and engine.alive
        assert not recorder.of(JobFailed)
        await recorder.stop()

    run(scenario())


def test_a_child_killed_mid_job_fails_that_job_once_and_the_queue_goes_on(engines, caplog) -> None:
    async def scenario() -> None:
        running = generate("sleep=0.05", steps=200)
        queued = [generate(steps=3, seed=s) for s in (1, 2, 3)]
        engine = engines()
        recorder = Recorder(engine).start()
        for job in (running, *queued):
            engine.send(Submit(job=job))
        pid = await child_pid(engine)
        await recorder.until(lambda events: recorder.of(StepProgress))
        os.kill(pid, signal.SIGKILL)
        await recorder.finals(4)
        failed = recorder.final_of(running.job_id)
        assert isinstance(failed, JobFailed)
        assert failed.message.startswith("The engine process was killed (SIGKILL")
        assert failed.message.endswith("it restarts, and the queued jobs go on.")
        assert failed.message.count(".") == 1
        for job in queued:
            assert isinstance(recorder.final_of(job.job_id), JobFinished)
        await recorder.stop()
        assert set(recorder.ends().values()) == {1}
        assert len(recorder.of(LaneFinished)) == 3
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert any(f"engine process {pid} was killed (SIGKILL" in text for text in errors)

    run(scenario())


@pytest.mark.parametrize(
    ("how", "words"), [("segv", "crashed (SIGSEGV) in native code"), ("exit", "exited with code 3")]
)
def test_a_child_dying_in_a_lane_keeps_what_finished_before(engines, how, words) -> None:
    async def scenario() -> None:
        job = compare(student=f"sleep=0.01 crash={how}@2", steps=3, seed=4)
        after = generate(steps=2)
        engine = engines()
        recorder = Recorder(engine).start()
        engine.send(Submit(job=job))
        engine.send(Submit(job=after))
        await recorder.finals(2)
        (teacher,) = recorder.of(LaneFinished)[:1]
        assert teacher.lane is Lane.teacher and teacher.job_id == job.job_id
        assert teacher.images[0].tobytes() == pretend_image(4, Lane.teacher, 16, 16).tobytes()
        failed = recorder.final_of(job.job_id)
        assert isinstance(failed, JobFailed) and words in failed.message
        assert isinstance(recorder.final_of(after.job_id), JobFinished)
        await recorder.stop()
        assert set(recorder.ends().values()) == {1}

    run(scenario())


def test_a_slow_consumer_gets_every_preview_sent_and_never_two_pending(engines) -> None:
    async def scenario() -> None:
        job = generate("sleep=0.005", steps=80)
        engine = engines()
        refused: list[PreviewReady] = []
        offer = engine._channel.offer_preview

        def counted(lane, make):
            taken = offer(lane, make)
            if not taken:
                refused.append(make())
            return taken

        engine._channel.offer_preview = counted  # type: ignore[method-assign]

        async def slow(event) -> None:
            if isinstance(event, PreviewReady):
                await asyncio.sleep(0.08)

        recorder = Recorder(engine, react=slow).start()
        engine.send(Submit(job=job))
        await recorder.finals(1, timeout=20.0)
        await recorder.stop()
        previews = recorder.of(PreviewReady)
        assert not refused
        assert 2 <= len(previews) < 40
        assert [p.step for p in previews] == sorted({p.step for p in previews})

    run(scenario())


def test_restart_cancels_the_running_job_and_keeps_the_queue(engines) -> None:
    async def scenario() -> None:
        running = generate("sleep=0.05", steps=200)
        queued = [generate(steps=2, seed=s) for s in (1, 2)]
        engine = engines()
        recorder = Recorder(engine).start()
        for job in (running, *queued):
            engine.send(Submit(job=job))
        first = await child_pid(engine)
        await recorder.until(lambda events: recorder.of(StepProgress))
        assert engine.restart()
        await recorder.finals(3)
        assert isinstance(recorder.final_of(running.job_id), JobCancelled)
        for job in queued:
            assert isinstance(recorder.final_of(job.job_id), JobFinished)
        assert engine.child_pid != first and wait_gone(first)
        assert not recorder.of(JobFailed)
        await recorder.stop()
        assert set(recorder.ends().values()) == {1}

    run(scenario())


def test_settings_survive_a_crash(engines) -> None:
    async def scenario() -> None:
        applied, wanted = EngineOptions(max_models=2), EngineOptions(max_models=4)
        running = generate("sleep=0.05", steps=200)
        engine = engines()
        recorder = Recorder(engine).start()
        engine.send(Configure(options=applied))
        await recorder.until(lambda events: recorder.of(EngineConfigured))
        engine.send(Submit(job=running))
        engine.send(Configure(options=wanted))
        first = await child_pid(engine)
        await recorder.until(lambda events: recorder.of(StepProgress))
        os.kill(first, signal.SIGKILL)
        await recorder.until(lambda events: len(recorder.of(EngineConfigured)) == 2)
        assert recorder.of(EngineConfigured)[1].options == wanted
        second = await child_pid(engine, other_than=first)
        command = Path(f"/proc/{second}/cmdline").read_bytes().decode().split("\0")
        assert options_of(command[command.index("--options") + 1]) == applied
        await recorder.stop()

    run(scenario())


def test_refused_settings_are_not_sent_again_after_a_crash(engines) -> None:
    async def scenario() -> None:
        engine = engines()
        recorder = Recorder(engine).start()
        engine.send(Configure(options=EngineOptions(max_models=0)))
        await recorder.until(lambda events: recorder.of(JobFailed))
        assert "keeps at least one model" in recorder.of(JobFailed)[0].message
        os.kill(await child_pid(engine), signal.SIGKILL)
        await recorder.until(
            lambda events: any(getattr(e, "text", "") == RESTARTED for e in events)
        )
        job = generate(steps=2)
        engine.send(Submit(job=job))
        await recorder.finals(2)
        assert [e.job_id for e in recorder.of(JobFailed)] == [""]
        await recorder.stop()

    run(scenario())


def test_close_cancels_what_waits_and_leaves_no_process(engines) -> None:
    async def scenario() -> None:
        jobs = [generate("sleep=0.05", steps=200), generate(), generate()]
        engine = engines()
        recorder = Recorder(engine).start()
        for job in jobs:
            engine.send(Submit(job=job))
        pid = await child_pid(engine)
        await recorder.until(lambda events: recorder.of(StepProgress))
        started = time.monotonic()
        await recorder.stop()
        assert time.monotonic() - started < 5.0
        assert process_gone(pid)
        assert all(isinstance(recorder.final_of(j.job_id), JobCancelled) for j in jobs)
        assert isinstance(recorder.events[-1], EngineStopped)
        with pytest.raises(RuntimeError):
            engine.send(Submit(job=generate()))

    run(scenario())


def test_repeated_crashes_stop_the_restarts_and_fail_the_waiting_jobs(engines) -> None:
    async def scenario() -> None:
        engine = engines(max_crashes=2)
        recorder = Recorder(engine).start()
        crashing = [generate("crash=kill@1"), generate("crash=kill@1")]
        waiting = generate()
        for job in (*crashing, waiting):
            engine.send(Submit(job=job))
        await recorder.finals(3)
        await recorder.until(lambda events: recorder.of(EngineStopped))
        assert all(isinstance(recorder.final_of(j.job_id), JobFailed) for j in crashing)
        stopped = recorder.final_of(waiting.job_id)
        assert isinstance(stopped, JobFailed) and "stopped restarting it" in stopped.message
        assert not engine.alive
        with pytest.raises(RuntimeError, match="Restart engine"):
            engine.send(Submit(job=generate()))
        assert engine.restart()
        assert engine.alive
        await recorder.stop()

    run(scenario())


def test_many_jobs_with_random_cancels_and_crashes_each_end_exactly_once(engines) -> None:
    async def scenario() -> None:
        rng = random.Random(18)
        crashing = {100, 250, 400}
        jobs = [
            generate("crash=kill@1" if i in crashing else "", steps=2, every=0, seed=i)
            for i in range(500)
        ]
        engine = engines(max_crashes=10)
        recorder = Recorder(engine).start()
        for job in jobs:
            engine.send(Submit(job=job))
            if rng.random() < 0.3:
                engine.send(Cancel(job_id=rng.choice(jobs).job_id, keep_partial=rng.random() < 0.5))
        await recorder.finals(500, timeout=60.0)
        await recorder.stop()
        ends = recorder.ends()
        assert set(ends) == {job.job_id for job in jobs}
        assert set(ends.values()) == {1}
        failed = {e.job_id for e in recorder.of(JobFailed)}
        assert failed and failed <= {jobs[i].job_id for i in crashing}
        assert len(recorder.of(EngineStatus)) >= 2 * len(failed)

    run(scenario())


def test_a_parent_killed_hard_leaves_no_orphan() -> None:
    parent = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "worker" / "orphan_parent.py"), "30"],
        stdout=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert not process_gone(child)
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
    assert wait_gone(child, 5.0)


def test_importing_the_process_engine_imports_no_torch() -> None:
    code = (
        "import sys, studio.worker.process_engine, studio.worker.engine_child;"
        "bad = {'torch', 'diffusers', 'PySide6'} & set(sys.modules);"
        "sys.exit(f'imported {sorted(bad)}' if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
