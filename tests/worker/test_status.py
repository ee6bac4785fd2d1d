"""Status lines travel on the engine's one event stream: a model load on the engine thread is
told through the same queue as the jobs' events, and the thread host is an EngineClient."""

from __future__ import annotations

import asyncio

from studio.core.client import EngineClient
from studio.core.commands import LoadModel
from studio.core.events import EngineStatus
from studio.engine.runner import Runner
from studio.worker.host import EngineHost
from tests.engine.test_model_cache import fake_cache, ref


async def statuses(host: EngineHost, count: int) -> list[str]:
    texts: list[str] = []
    async for event in host.listen():
        if isinstance(event, EngineStatus):
            texts.append(event.text)
            if len(texts) == count:
                break
    return texts


def test_a_preload_is_told_on_the_event_stream(hosts):
    cache, loader = fake_cache({"a": 10}, ram_floats=100)
    host = EngineHost(runner_factory=lambda: Runner(cache))
    hosts.append(host)
    host.send(LoadModel(ref=ref("a")))
    texts = asyncio.run(asyncio.wait_for(statuses(host, 2), timeout=20))
    assert texts == ["Loading a…", "Ready · a loaded on cpu in 0.0 s"]
    assert [call[0] for call in loader.calls] == ["a"]


def test_the_thread_host_is_an_engine_client(hosts):
    cache, _ = fake_cache({}, ram_floats=100)
    host = EngineHost(runner_factory=lambda: Runner(cache))
    hosts.append(host)
    assert isinstance(host, EngineClient)
    assert host.alive and not host.revive(), "a living engine is not replaced"
