"""`SessionViewModel.consume` on Qt's event loop (qasync) and on plain asyncio."""

from __future__ import annotations

import asyncio

import qasync

from studio.core.events import JobStarted
from studio.viewmodels.session import INTERNAL_ERROR, SessionViewModel
from tests.viewmodels.fake_engine import FakeEngine


async def generate_and_wait(session: SessionViewModel, engine: FakeEngine) -> None:
    task = asyncio.ensure_future(session.consume())
    session.generate()
    await asyncio.sleep(0)
    while session.busy:
        await asyncio.sleep(0.002)
    engine.close()
    await asyncio.wait_for(task, timeout=5)


def test_consume_on_the_qt_loop(qapp, store, qtbot) -> None:
    engine = FakeEngine(delay_s=0.0005)
    session = SessionViewModel(engine, store)
    steps: list[int] = []
    session.student.progressChanged.connect(lambda step, total: steps.append(step))
    loop = qasync.QEventLoop(qapp)
    try:
        loop.run_until_complete(generate_and_wait(session, engine))
    finally:
        loop.close()
    assert steps == [0, 1, 2, 3, 4, 4]
    assert session.comparison.available and len(session.gallery.items) == 2
    assert not session.busy and session.last_error == ""


def test_consume_survives_a_failing_handler(qapp, store, monkeypatch) -> None:
    engine = FakeEngine()
    session = SessionViewModel(engine, store)
    real_handle = session.handle

    def flaky(event):
        if isinstance(event, JobStarted):
            raise RuntimeError("bug in a widget slot")
        real_handle(event)

    monkeypatch.setattr(session, "handle", flaky)
    asyncio.run(generate_and_wait(session, engine))
    assert session.last_error == INTERNAL_ERROR
    assert session.queue.count == 0 and not session.busy
