"""Helpers for the process engine's tests: pretend jobs, a recording consumer, process checks."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from studio.core.events import Event, JobCancelled, JobFailed, JobFinished
from studio.core.jobs import CompareJob, GenerateJob, LaneSpec, PreviewOptions
from studio.core.models import ModelRef
from studio.core.params import GenerationParams
from studio.worker.process_engine import ProcessEngine

FINAL = (JobFinished, JobCancelled, JobFailed)
WAIT_S = 8.0


def lane(script: str = "", steps: int = 4, seed: int = 7, side: int = 16) -> LaneSpec:
    params = GenerationParams(
        prompt=script, num_inference_steps=steps, seed=seed, width=side, height=side
    )
    return LaneSpec(model=ModelRef.embedded("pretend"), params=params)


def generate(script: str = "", steps: int = 4, seed: int = 7, every: int = 1) -> GenerateJob:
    return GenerateJob(lane=lane(script, steps, seed), previews=PreviewOptions(every=every))


def compare(teacher: str = "", student: str = "", steps: int = 4, seed: int = 7) -> CompareJob:
    return CompareJob(
        teacher=lane(teacher, steps, seed),
        student=lane(student, steps, seed),
        previews=PreviewOptions(),
    )


class Recorder:
    """Consumes an engine's stream on the running loop, keeping every event; `react` may act
    on each one as it comes (and may be slow)."""

    def __init__(self, engine: ProcessEngine, react: Callable[[Event], object] | None = None):
        self.engine, self.react = engine, react
        self.events: list[Event] = []
        self.task: asyncio.Task[None] | None = None

    def start(self) -> Recorder:
        self.task = asyncio.get_running_loop().create_task(self._consume())
        return self

    async def _consume(self) -> None:
        async for event in self.engine.listen():
            self.events.append(event)
            if self.react is not None:
                result = self.react(event)
                if asyncio.iscoroutine(result):
                    await result

    async def until(self, done: Callable[[list[Event]], bool], timeout: float = WAIT_S) -> None:
        end = time.monotonic() + timeout
        while not done(self.events):
            if time.monotonic() > end:
                names = [type(e).__name__ for e in self.events[-12:]]
                raise AssertionError(f"timed out; the last events: {names}")
            await asyncio.sleep(0.01)

    async def finals(self, count: int, timeout: float = WAIT_S) -> None:
        await self.until(lambda events: len(self.of(*FINAL)) >= count, timeout)

    async def stop(self) -> None:
        await asyncio.to_thread(self.engine.close)
        if self.task is not None:
            await asyncio.wait_for(self.task, WAIT_S)

    def of(self, *kinds: type) -> list:
        return [e for e in self.events if isinstance(e, kinds)]

    def ends(self) -> Counter[str]:
        return Counter(e.job_id for e in self.of(*FINAL))

    def final_of(self, job_id: str) -> Event:
        (event,) = [e for e in self.of(*FINAL) if e.job_id == job_id]
        return event


def process_gone(pid: int) -> bool:
    """Whether a process no longer runs (gone, or a zombie nobody reaped yet)."""
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        return stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    return True


def wait_gone(pid: int, timeout: float = WAIT_S) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if process_gone(pid):
            return True
        time.sleep(0.05)
    return process_gone(pid)


async def child_pid(engine: ProcessEngine, other_than: int | None = None) -> int:
    end = time.monotonic() + WAIT_S
    while (pid := engine.child_pid) is None or pid == other_than:
        if time.monotonic() > end:
            raise AssertionError("the engine process did not start")
        await asyncio.sleep(0.02)
    return pid
