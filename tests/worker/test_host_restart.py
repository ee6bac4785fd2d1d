"""Restart engine on the thread engine: the running job ends cancelled, a fresh runner (the old
one and its models let go) serves the queued jobs, the settings in force carry over."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref

from studio.core.commands import Configure
from studio.core.engine_options import EngineOptions
from studio.core.events import EngineConfigured, EngineStatus, JobCancelled, JobFinished
from studio.worker.host import RENEWED, EngineHost
from tests.worker.test_host import FINAL, ScriptedRunner, collect, make_job


class ConfigurableRunner(ScriptedRunner):
    """A scripted runner that takes settings (and remembers them)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.options: list[EngineOptions] = []

    def configure(self, options: EngineOptions) -> str:
        self.options.append(options)
        return "applied"


def test_restart_cancels_the_running_job_and_a_fresh_runner_serves_the_queue():
    built: list[ConfigurableRunner] = []

    def factory() -> ConfigurableRunner:
        built.append(ConfigurableRunner(steps=40, step_s=0.02))
        return built[-1]

    host = EngineHost(runner_factory=factory)
    try:
        options = EngineOptions(max_models=1)
        host.send(Configure(options=options))
        running, queued = make_job(seed=1), make_job(seed=2)
        host.submit(running)
        host.submit(queued)
        deadline = time.monotonic() + 5
        while not built or running.job_id not in built[0].ran:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        first = weakref.ref(built[0])
        assert host.restart()
        events = asyncio.run(collect(host, 2))
    finally:
        host.close()
    finals = [(type(e), e.job_id) for e in events if isinstance(e, FINAL)]
    assert finals == [(JobCancelled, running.job_id), (JobFinished, queued.job_id)]
    assert any(isinstance(e, EngineStatus) and e.text == RENEWED for e in events)
    assert len(built) == 2 and built[1].ran == [queued.job_id]
    assert built[1].options == [options], "the settings in force carry over"
    assert any(isinstance(e, EngineConfigured) for e in events)
    built.clear()
    gc.collect()
    assert first() is None, "the old runner (and its models) is let go"


def test_a_closed_engine_does_not_restart():
    host = EngineHost(runner_factory=lambda: ScriptedRunner(steps=1))
    host.close()
    assert not host.restart()
