"""Faults in the engine thread: a job that raises anything at all, a thread that dies anyway.

Each fault must end its job with one JobFailed sentence, leave the thread serving, give the
runner a chance to release memory, and let the next job run.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studio.core import logs
from studio.core.events import JobFailed, JobFinished
from studio.engine.cancel import CancelToken
from studio.worker.host import EngineHost
from tests.worker.test_host import FINAL, ScriptedRunner, collect, make_job


class ReleasingRunner(ScriptedRunner):
    """A scripted runner that raises `fail` once, then counts the releases it is asked for."""

    def __init__(self, fail: BaseException) -> None:
        super().__init__(steps=2)
        self.once: BaseException | None = fail
        self.released = 0

    def run(self, job: Any, token: Any, sink: Any) -> Any:
        if self.once is not None:
            fail, self.once = self.once, None
            raise fail
        return super().run(job, token, sink)

    def after_failure(self) -> None:
        self.released += 1


class Escape(BaseException):
    """Something that is not an Exception, as a C extension or a library might raise."""


@pytest.fixture
def log_file(tmp_path: Path, monkeypatch) -> Iterator[Path]:
    """The studio's logging set up as the app does it, into a file under `tmp_path`."""
    path = tmp_path / "logs" / "studio.log"
    monkeypatch.setattr(logs, "log_path", lambda: path)
    studio_log = logging.getLogger("studio")
    handlers, propagate, level = list(studio_log.handlers), studio_log.propagate, studio_log.level
    monkeypatch.setattr(logs.sys, "excepthook", logs.sys.excepthook)
    monkeypatch.setattr(logs.threading, "excepthook", logs.threading.excepthook)
    for handler in handlers:
        studio_log.removeHandler(handler)
    logs.configure_logging()
    yield path
    for handler in list(studio_log.handlers):
        studio_log.removeHandler(handler)
        handler.close()
    for handler in handlers:
        studio_log.addHandler(handler)
    studio_log.propagate, studio_log.level = propagate, level


def run_two(host: EngineHost) -> tuple[list[Any], list[Any]]:
    first, second = make_job(seed=1), make_job(seed=2)
    host.submit(first)
    host.submit(second)
    events = asyncio.run(collect(host, 2))
    finals = [e for e in events if isinstance(e, FINAL)]
    return events, finals


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (RuntimeError("CUDA error: an illegal memory access"), "RuntimeError: CUDA error"),
        (MemoryError(), "ran out of memory"),
        (SystemExit(3), "engine thread crashed"),
        (KeyboardInterrupt(), "engine thread crashed"),
        (Escape("from a C extension"), "Escape: from a C extension"),
    ],
    ids=["exception", "oom", "system-exit", "interrupt", "base-exception"],
)
def test_any_fault_fails_one_job_and_the_next_runs(hosts, fault: BaseException, words: str):
    runner = ReleasingRunner(fault)
    host = EngineHost(runner_factory=lambda: runner)
    hosts.append(host)
    _, finals = run_two(host)
    assert [type(e) for e in finals] == [JobFailed, JobFinished]
    assert words in finals[0].message
    assert finals[0].message.count(". ") == 0 and finals[0].message.endswith(".")
    assert runner.released == 1 and host.alive


def test_a_crash_after_the_final_event_does_not_end_the_job_twice(hosts, monkeypatch):
    runner = ScriptedRunner(steps=1)
    host = EngineHost(runner_factory=lambda: runner)
    hosts.append(host)
    original = host._release

    def explode(runner: Any) -> None:
        original(runner)
        raise Escape("after the job ended")

    monkeypatch.setattr(host, "_release", explode)
    runner.fail = RuntimeError("first")
    job = make_job(seed=1)
    host.submit(job)
    events = asyncio.run(collect(host, 1))
    runner.fail = None
    host.submit(make_job(seed=2))
    events += asyncio.run(collect(host, 1))
    finals = [e for e in events if isinstance(e, FINAL)]
    assert [type(e) for e in finals] == [JobFailed, JobFinished]
    assert [e.job_id for e in finals].count(job.job_id) == 1


class DyingQueue(queue.Queue):
    """A queue whose first `get` kills the thread that calls it, outside any job."""

    def __init__(self) -> None:
        super().__init__()
        self.dead = False

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if not self.dead:
            self.dead = True
            raise Escape("the engine loop itself")
        return super().get(block, timeout)


class DyingHost(EngineHost):
    """A host whose first engine thread dies in its loop, where no job guard reaches."""

    def _start_thread(self) -> Any:
        if not isinstance(self._queue, DyingQueue):
            self._queue = DyingQueue()
        return super()._start_thread()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_engine_thread_is_revived_and_runs_the_queued_jobs(hosts):
    built: list[ScriptedRunner] = []

    def factory() -> ScriptedRunner:
        built.append(ScriptedRunner(steps=1))
        return built[-1]

    host = DyingHost(runner_factory=factory)
    hosts.append(host)
    host._thread.join(5)
    assert not host.alive
    host._running = ("lost-job", CancelToken())  # the job that was running when it died
    job = make_job(seed=4)
    host.submit(job)
    assert host.revive() and host.alive
    events = asyncio.run(collect(host, 2))
    finals = [(type(e), e.job_id) for e in events if isinstance(e, FINAL)]
    assert finals == [(JobFailed, "lost-job"), (JobFinished, job.job_id)]
    assert len(built) == 2 and built[1].ran == [job.job_id]
    assert not host.revive(), "a living thread is not replaced"


def test_a_stopped_engine_is_not_revived():
    def broken() -> Any:
        raise ImportError("No module named 'torch'")

    host = EngineHost(runner_factory=broken)
    host._thread.join(5)
    assert not host.alive and not host.revive()
    host.close()


def test_tracebacks_go_to_the_log_file_and_the_message_names_it(hosts, log_file: Path):
    runner = ReleasingRunner(RuntimeError("boom in the pipeline"))
    host = EngineHost(runner_factory=lambda: runner)
    hosts.append(host)
    _, finals = run_two(host)
    assert str(log_file) in finals[0].message
    text = log_file.read_text("utf-8")
    assert "Traceback (most recent call last)" in text and "boom in the pipeline" in text


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_an_uncaught_error_in_any_thread_is_logged(log_file: Path, monkeypatch):
    monkeypatch.setattr(logs.threading, "excepthook", logs.threading.excepthook)
    logs.log_uncaught_exceptions()  # again: pytest swaps the hook for each phase of a test

    def fail() -> None:
        raise ValueError("nobody caught me")

    worker = threading.Thread(target=fail, name="helper")
    worker.start()
    worker.join()
    text = log_file.read_text("utf-8")
    assert "uncaught exception in thread helper" in text and "nobody caught me" in text
