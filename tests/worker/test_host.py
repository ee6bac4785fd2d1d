"""EngineHost against a scripted runner: ordering, cancel, coalescing, failures, shutdown."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from studio.core.commands import Cancel, Submit
from studio.core.events import (
    EngineStopped,
    JobCancelled,
    JobFailed,
    JobFinished,
    JobQueued,
    JobStarted,
    LaneFinished,
    PreviewReady,
    StepProgress,
    Timings,
)
from studio.core.jobs import GenerateJob, Lane, LaneSpec, PreviewOptions
from studio.core.models import ModelRef
from studio.core.params import GenerationParams
from studio.engine.cancel import Cancelled
from studio.worker.host import EngineHost

FINAL = (JobFinished, JobCancelled, JobFailed)


class ScriptedRunner:
    """Pretends to denoise: `steps` steps of `step_s` seconds, a preview offered every step."""

    def __init__(self, steps: int = 5, step_s: float = 0.01, fail: Exception | None = None):
        self.steps, self.step_s, self.fail = steps, step_s, fail
        self.models = None
        self.ran: list[str] = []
        self.previews_made = 0

    def run(self, job, token, sink):
        self.ran.append(job.job_id)
        if self.fail:
            raise self.fail
        for i in range(self.steps):
            time.sleep(self.step_s)
            if token.cancelled and not token.keep_partial:
                raise Cancelled()
            sink.emit(
                StepProgress(
                    job_id=job.job_id, lane=Lane.main, step=i + 1, total=self.steps, elapsed_s=0.0
                )
            )
            sink.offer_preview(Lane.main, lambda i=i: self._preview(job, i))
            if token.keep_partial:
                break
        img = np.zeros((8, 8, 3), np.uint8)
        sink.emit(
            LaneFinished(
                job_id=job.job_id,
                lane=Lane.main,
                images=(img,),
                params=job.lane.params,
                model=job.lane.model,
                timings=Timings(),
                steps=self.steps,
                partial=token.keep_partial,
            )
        )

        class Outcome:
            stopped = token.keep_partial

        return Outcome()

    def _preview(self, job, i):
        self.previews_made += 1
        img = np.zeros((4, 4, 3), np.uint8)
        return PreviewReady(
            job_id=job.job_id, lane=Lane.main, step=i + 1, total=self.steps, x_t=img
        )


def make_job(**params) -> GenerateJob:
    p = GenerationParams(width=32, height=32, **params)
    return GenerateJob(
        lane=LaneSpec(model=ModelRef.embedded("x"), params=p), previews=PreviewOptions(every=1)
    )


async def collect(host: EngineHost, until_final: int, slow_consumer_s: float = 0.0):
    events = []
    finals = 0
    async for event in host.listen():
        events.append(event)
        if slow_consumer_s:
            await asyncio.sleep(slow_consumer_s)
        if isinstance(event, FINAL):
            finals += 1
            if finals == until_final:
                break
    return events


@pytest.fixture
def host_factory():
    hosts = []

    def make(runner):
        host = EngineHost(runner_factory=lambda: runner)
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.close()
        assert not host.alive


def test_jobs_run_in_order_and_end_once(host_factory):
    runner = ScriptedRunner()
    host = host_factory(runner)
    jobs = [make_job(seed=i) for i in range(3)]
    for job in jobs:
        host.send(Submit(job=job))
    events = asyncio.run(collect(host, 3))
    assert runner.ran == [j.job_id for j in jobs]
    finals = [e for e in events if isinstance(e, FINAL)]
    assert [e.job_id for e in finals] == runner.ran
    assert all(isinstance(e, JobFinished) for e in finals)
    queued = [e for e in events if isinstance(e, JobQueued)]
    assert [e.job_id for e in queued] == runner.ran
    started = [e.job_id for e in events if isinstance(e, JobStarted)]
    assert started == runner.ran


def test_invalid_job_fails_before_queueing(host_factory):
    runner = ScriptedRunner()
    host = host_factory(runner)
    job = make_job(num_inference_steps=0)
    host.send(Submit(job=job))
    events = asyncio.run(collect(host, 1))
    assert isinstance(events[-1], JobFailed)
    assert "number of steps" in events[-1].message
    assert runner.ran == []


def test_cancel_queued_job_never_runs_and_leaves_running_alone(host_factory):
    runner = ScriptedRunner(steps=20, step_s=0.02)
    host = host_factory(runner)
    first, second = make_job(seed=1), make_job(seed=2)
    host.send(Submit(job=first))
    host.send(Submit(job=second))
    host.send(Cancel(job_id=second.job_id))
    host.send(Cancel(job_id=second.job_id))
    events = asyncio.run(collect(host, 2))
    finals = {e.job_id: type(e) for e in events if isinstance(e, FINAL)}
    assert finals == {first.job_id: JobFinished, second.job_id: JobCancelled}
    assert runner.ran == [first.job_id]


def test_cancel_running_job_discards(host_factory):
    runner = ScriptedRunner(steps=200, step_s=0.01)
    host = host_factory(runner)
    job = make_job()

    async def scenario():
        host.submit(job)
        events = []
        async for event in host.listen():
            events.append(event)
            if isinstance(event, StepProgress) and event.step == 3:
                host.cancel(job.job_id)
            if isinstance(event, FINAL):
                return events
        return events

    events = asyncio.run(scenario())
    assert isinstance(events[-1], JobCancelled) and not events[-1].kept_partial
    assert not any(isinstance(e, LaneFinished) for e in events)
    steps = [e.step for e in events if isinstance(e, StepProgress)]
    assert max(steps) < 20


def test_stop_and_keep_returns_partial(host_factory):
    runner = ScriptedRunner(steps=200, step_s=0.01)
    host = host_factory(runner)
    job = make_job()

    async def scenario():
        host.submit(job)
        events = []
        async for event in host.listen():
            events.append(event)
            if isinstance(event, StepProgress) and event.step == 2:
                host.cancel(job.job_id, keep_partial=True)
            if isinstance(event, FINAL):
                return events
        return events

    events = asyncio.run(scenario())
    assert isinstance(events[-1], JobCancelled) and events[-1].kept_partial
    finished = [e for e in events if isinstance(e, LaneFinished)]
    assert len(finished) == 1 and finished[0].partial


def test_cancel_after_finish_and_unknown_id_are_harmless(host_factory):
    host = host_factory(ScriptedRunner(steps=2))
    job = make_job()
    host.submit(job)
    asyncio.run(collect(host, 1))
    host.cancel(job.job_id)
    host.cancel("no-such-job", keep_partial=True)
    second = make_job(seed=5)
    host.submit(second)
    events = asyncio.run(collect(host, 1))
    assert isinstance(events[-1], JobFinished) and events[-1].job_id == second.job_id


def test_previews_coalesce_when_consumer_is_slow(host_factory):
    runner = ScriptedRunner(steps=60, step_s=0.002)
    host = host_factory(runner)
    host.submit(make_job())
    events = asyncio.run(collect(host, 1, slow_consumer_s=0.02))
    previews = [e for e in events if isinstance(e, PreviewReady)]
    assert runner.previews_made < 60
    assert len(previews) <= runner.previews_made
    assert [p.step for p in previews] == sorted(p.step for p in previews)
    finished_at = next(i for i, e in enumerate(events) if isinstance(e, LaneFinished))
    assert not any(isinstance(e, PreviewReady) for e in events[finished_at:])


def test_runner_exception_becomes_failure_and_next_job_runs(host_factory):
    runner = ScriptedRunner(fail=RuntimeError("boom"))
    host = host_factory(runner)
    host.submit(make_job())
    events = asyncio.run(collect(host, 1))
    assert isinstance(events[-1], JobFailed)
    assert "boom" in events[-1].message and "Traceback" in events[-1].detail
    runner.fail = None
    host.submit(make_job())
    events = asyncio.run(collect(host, 1))
    assert isinstance(events[-1], JobFinished)


def test_out_of_memory_is_described(host_factory):
    host = host_factory(ScriptedRunner(fail=MemoryError()))
    host.submit(make_job())
    events = asyncio.run(collect(host, 1))
    assert "ran out of memory" in events[-1].message


def test_close_cancels_pending_and_stops_stream():
    runner = ScriptedRunner(steps=50, step_s=0.01)
    host = EngineHost(runner_factory=lambda: runner)
    jobs = [make_job(seed=i) for i in range(3)]
    for job in jobs:
        host.submit(job)

    async def scenario():
        events = []
        closer = threading.Timer(0.1, host.close)
        closer.start()
        async for event in host.listen():
            events.append(event)
        closer.join()
        return events

    events = asyncio.run(scenario())
    assert isinstance(events[-1], EngineStopped)
    finals = [e for e in events if isinstance(e, FINAL)]
    assert sorted(e.job_id for e in finals) == sorted(j.job_id for j in jobs)
    assert not host.alive
    with pytest.raises(RuntimeError):
        host.submit(make_job())
