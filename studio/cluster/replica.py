"""One engine replica of the served application."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Collection
from functools import partial
from pathlib import Path
from typing import Any

from studio.cluster.board import board_handle
from studio.cluster.inbox import EventRouter, is_final, relayed
from studio.cluster.served_models import ServedModels
from studio.core.client import EngineClient
from studio.core.commands import Cancel, Submit
from studio.core.engine_options import EngineOptions
from studio.core.events import JobFailed
from studio.core.wire import from_json_dict
from studio.core.wire_frames import encode
from studio.core.wire_types import WireError
from studio.worker.engine_child import RUNNERS
from studio.worker.host import EngineHost
from studio.worker.process_engine import ProcessEngine

log = logging.getLogger(__name__)


class EngineReplica:
    """Runs the jobs one Serve replica receives on its own engine (the runner with the server's
    settings) and streams each job's events back as wire frames to the request that submitted
    it; cancel requests arrive through the cancel board.

    The engine runs in a child process of the replica by default, as the desktop's does: the
    replica's own threads (Serve's event loops, the streaming of every event) then never hold
    the interpreter lock the engine's steps need, and a crash of the engine restarts the child,
    not the replica (docs/BENCHMARKS.md, "Remote engine on Ray Serve", has both). `in_thread`
    runs it on a thread of the replica instead."""

    def __init__(
        self,
        runner: str = "default",
        options: EngineOptions | None = None,
        models_root: str = "",
        allow_hub: bool = False,
        in_thread: bool = False,
    ) -> None:
        if runner not in RUNNERS:
            raise ValueError(f"The engine runner must be one of {', '.join(sorted(RUNNERS))}.")
        self._host: EngineClient = (
            EngineHost(runner_factory=partial(RUNNERS[runner], options))
            if in_thread
            else ProcessEngine(runner, options)
        )
        self._models = ServedModels(Path(models_root) if models_root else None, allow_hub)
        self._router = EventRouter()
        self._pump: asyncio.Task | None = None
        self._board: Any = None

    async def run(self, body: str, only: Collection[str] = ()) -> AsyncIterator[bytes]:
        """The events of the job a Submit (wire JSON) carries, as frames, until its last; the
        frames waiting together leave as one chunk (one item of Serve's stream). `only`: the
        event types (by name) the ingress uses, when it runs the job as part of a study; the
        rest never cross to the ingress."""
        job = self._job(body)
        if isinstance(job, str):
            yield encode(JobFailed(job_id="", message=job))
            return
        self._start_pump()
        inbox = self._router.open(job.job_id)
        watch = asyncio.get_running_loop().create_task(self._watch(job.job_id))
        try:
            self._host.send(Submit(job=job))
            while True:
                events = await inbox.get_all()
                kept = relayed(events, only)
                if kept:
                    yield b"".join(encode(event) for event in kept)
                if any(is_final(event) and event.job_id == job.job_id for event in events):
                    return
        except (asyncio.CancelledError, GeneratorExit):
            self._host.send(Cancel(job_id=job.job_id))
            raise
        finally:
            watch.cancel()
            self._router.close(job.job_id)
            if self._board is not None:
                self._board.forget.remote(job.job_id)

    def pid(self) -> int:
        return os.getpid()

    def engine_pid(self) -> int:
        """The process the engine's steps run in: the child's, or the replica's own."""
        child = getattr(self._host, "child_pid", None)
        return child if isinstance(child, int) else os.getpid()

    def check_health(self) -> None:
        """Serve asks every few seconds; an engine that stopped restarting its child (it
        crashed again and again) makes Serve replace the replica."""
        if not self._host.alive:
            raise RuntimeError("the replica's engine has stopped")

    def __del__(self) -> None:
        """Serve calls this when it stops the replica: the engine ends its child cleanly."""
        host = getattr(self, "_host", None)
        if host is not None:
            with contextlib.suppress(Exception):
                host.close(timeout=5.0)

    def node(self) -> str:
        """The Ray node this replica runs on (the tests see the replicas spread)."""
        import ray

        return ray.get_runtime_context().get_node_id()

    def _job(self, body: str):
        try:
            message = from_json_dict(json.loads(body))
        except (ValueError, WireError) as exc:
            return f"The job could not be read: {exc}"
        if not isinstance(message, Submit):
            return f"A replica runs Submit commands, not {type(message).__name__}."
        try:
            return self._models.admit(message.job)
        except ValueError as exc:
            return str(exc)

    def _start_pump(self) -> None:
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(self._pump_events())

    async def _pump_events(self) -> None:
        async for event in self._host.listen():
            self._router.route(event)

    async def _watch(self, job_id: str) -> None:
        """Wait at the cancel board for this job's cancel request while it runs."""
        try:
            if self._board is None:
                self._board = board_handle()
            keep = await self._board.wait.remote(job_id)
            if keep is not None:
                self._host.send(Cancel(job_id=job_id, keep_partial=keep))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("cancel requests cannot reach job %s: the board failed (%s)", job_id, exc)
