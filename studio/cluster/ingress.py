"""The served engine's HTTP ingress (FastAPI inside Ray Serve): auth, limits, routing."""

# no `from __future__ import annotations`: FastAPI inside Serve reads the hints as objects

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from ray import serve
from ray.serve.handle import DeploymentHandle

from studio import __version__
from studio.cluster.board import board_handle
from studio.cluster.fan_out import ConvergeMerge, GridMerge, split_convergence, split_grid
from studio.cluster.served_models import ServedModels
from studio.core.commands import Submit
from studio.core.events import Event, JobFailed, JobStarted
from studio.core.jobs import ConvergeJob, GridJob, Job, job_problems
from studio.core.model_resolver import ModelResolver
from studio.core.remote_api import (
    FRAMES_TYPE,
    HEALTH,
    JOB_ID,
    JOBS,
    MAX_REQUEST_BYTES,
    MODELS,
    SAMPLERS,
    token_matches,
)
from studio.core.samplers import SAMPLER_NAMES
from studio.core.wire import PROTOCOL_VERSION, from_json_dict, to_json_dict
from studio.core.wire_frames import encode, read_frame
from studio.core.wire_types import WireError

log = logging.getLogger(__name__)

REPLICA_LOST = (
    "The engine replica running this job stopped ({why}); the server starts a new one, so "
    "submit the job again."
)
PARTS_PER_REPLICA = 2
"""A study's parts in flight per replica: the one it runs and the next (max_ongoing_requests)."""
NEEDS_TOKEN = "This engine needs its token: connect with the token the server was started with."


@dataclass(frozen=True, slots=True)
class IngressSettings:
    """What the ingress knows of its server: the token's digest, the models, the replicas."""

    token_digest: str = ""
    models_root: str = ""
    allow_hub: bool = False
    replicas: str = "1"
    replica_count: int = 1
    device: str = "cpu"


class Refused(Exception):
    """A request refused with a status and one sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def refusal(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def limited_body(request: Request, limit: int = MAX_REQUEST_BYTES) -> bytes:
    """The request's body, refused (413) past `limit` bytes, whatever its header claims."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise Refused(413, f"The request is larger than the limit of {limit} bytes.")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise Refused(413, f"The request is larger than the limit of {limit} bytes.")
    return bytes(data)


def submitted_job(body: bytes, models: ServedModels) -> Submit:
    """The admitted Submit of a request body, or Refused (400) in one sentence."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise Refused(400, "The request body is not valid JSON.") from None
    try:
        message = from_json_dict(document)
    except WireError as exc:
        raise Refused(400, f"The job could not be read: {exc}") from None
    if not isinstance(message, Submit):
        raise Refused(400, f"POST {JOBS} takes a Submit, not a {type(message).__name__}.")
    try:
        job = models.admit(message.job)
    except ValueError as exc:
        raise Refused(400, str(exc)) from None
    found = job_problems(job)
    if found:
        raise Refused(400, " ".join(found))
    return Submit(job=job)


def frames_of(chunk: bytes) -> list:
    """The messages of a chunk of whole frames."""
    stream = io.BytesIO(chunk)
    messages = []
    while (message := read_frame(stream)) is not None:
        messages.append(message)
    return messages


def merge_of(job: Job, replicas: int) -> GridMerge | ConvergeMerge | None:
    """How a job spreads over the replicas, or None when it runs as one."""
    if isinstance(job, GridJob) and job.grid.size > 1:
        return GridMerge(job, split_grid(job))
    if isinstance(job, ConvergeJob):
        parts = split_convergence(job, replicas)
        if len(parts) > 1:
            return ConvergeMerge(job, parts)
    return None


async def fan_out(
    engine: DeploymentHandle, job: Job, merge: GridMerge | ConvergeMerge, replicas: int
) -> AsyncIterator[bytes]:
    """A study's parts as jobs on every replica at once, merged into the study's events."""
    events: asyncio.Queue[Event] = asyncio.Queue()
    parts = [p.job for p in merge.parts] if isinstance(merge, GridMerge) else merge.parts

    async def run_part(part: Job) -> None:
        body = json.dumps(to_json_dict(Submit(job=part)))
        stream = engine.options(stream=True).run.remote(body, merge.RELAYED)
        async for chunk in relay(stream, part.job_id):
            for message in frames_of(chunk):
                await events.put(cast(Event, message))

    # Each replica holds its part and the next one (max_ongoing_requests), so it starts a new
    # cell the moment one ends instead of idling for a round trip through the ingress; no
    # more than that are in flight, so a part never waits in the router's back-off.
    slots = asyncio.Semaphore(max(1, replicas) * PARTS_PER_REPLICA)

    async def run_when_free(part: Job) -> None:
        async with slots:
            await run_part(part)

    tasks = [asyncio.create_task(run_when_free(part)) for part in parts]
    try:
        yield encode(JobStarted(job_id=job.job_id))
        while not merge.finished:
            for event in merge.take(await events.get()):
                yield encode(event)
    finally:
        for task in tasks:
            task.cancel()


async def relay(stream: Any, job_id: str) -> AsyncIterator[bytes]:
    """A replica's frames, ending with one sentence if the replica dies mid-job."""
    try:
        async for frame in stream:
            yield frame
    except asyncio.CancelledError:
        stream.cancel()
        raise
    except Exception as exc:  # a RayActorError and its kin: the replica is gone
        log.error("the replica running job %s failed: %s", job_id, exc)
        why = type(exc).__name__
        yield encode(JobFailed(job_id=job_id, message=REPLICA_LOST.format(why=why)))
        return


# Everything the ingress class calls is defined above it: `serve.ingress` captures the
# class as the module stands at that line.
app = FastAPI(title="Studio engine", docs_url=None, redoc_url=None, openapi_url=None)


@serve.ingress(app)
class EngineIngress:
    """Answers the HTTP API of `studio.core.remote_api`: checks the token and the request,
    hands each job to an engine replica through Serve's handle and streams its frames back."""

    def __init__(self, engine: DeploymentHandle, settings: IngressSettings) -> None:
        self._engine = engine
        self._settings = settings
        root = Path(settings.models_root) if settings.models_root else None
        self._models = ServedModels(root, settings.allow_hub)
        self._board = board_handle()
        self._fanned: dict[str, list[str]] = {}

    def _check(self, request: Request) -> None:
        if not token_matches(request.headers.get("authorization"), self._settings.token_digest):
            raise Refused(401, NEEDS_TOKEN)

    @app.get(HEALTH)
    async def health(self) -> dict[str, Any]:
        return {
            "protocol": PROTOCOL_VERSION,
            "studio": __version__,
            "replicas": self._settings.replicas,
            "device": self._settings.device,
            "token": bool(self._settings.token_digest),
        }

    @app.get(MODELS)
    async def models(self, request: Request) -> Response:
        try:
            self._check(request)
        except Refused as exc:
            return refusal(exc.status, exc.message)
        embedded = list(ModelResolver.shipped().embedded_models())
        return JSONResponse({"models": embedded + self._models.names()})

    @app.get(SAMPLERS)
    async def samplers(self, request: Request) -> Response:
        try:
            self._check(request)
        except Refused as exc:
            return refusal(exc.status, exc.message)
        return JSONResponse({"samplers": list(SAMPLER_NAMES)})

    @app.post(JOBS)
    async def submit(self, request: Request) -> Response:
        try:
            self._check(request)
            submit = submitted_job(await limited_body(request), self._models)
        except Refused as exc:
            return refusal(exc.status, exc.message)
        job = submit.job
        merge = merge_of(job, self._settings.replica_count)
        if merge is not None:
            self._fanned[job.job_id] = list(
                merge.cell_jobs if isinstance(merge, GridMerge) else merge.part_jobs
            )
            frames = self._forget_after(
                job.job_id, fan_out(self._engine, job, merge, self._settings.replica_count)
            )
        else:
            stream = self._engine.options(stream=True).run.remote(json.dumps(to_json_dict(submit)))
            frames = relay(stream, job.job_id)
        return StreamingResponse(frames, media_type=FRAMES_TYPE, status_code=200)

    async def _forget_after(
        self, job_id: str, frames: AsyncIterator[bytes]
    ) -> AsyncIterator[bytes]:
        try:
            async for frame in frames:
                yield frame
        finally:
            self._fanned.pop(job_id, None)

    @app.post(JOBS + "/{job_id}/cancel")
    async def cancel(self, job_id: str, request: Request) -> Response:
        try:
            self._check(request)
            if not JOB_ID.match(job_id):
                raise Refused(400, "A job id is 1 to 64 letters, digits, '.', '_' or '-'.")
            document = json.loads(await limited_body(request, 4096) or b"{}")
            keep = document.get("keep_partial", False) if isinstance(document, dict) else None
            if not isinstance(keep, bool):
                raise Refused(400, 'The cancel body must be {"keep_partial": true or false}.')
        except Refused as exc:
            return refusal(exc.status, exc.message)
        except ValueError:
            return refusal(400, "The cancel body is not valid JSON.")
        for each in [job_id, *self._fanned.get(job_id, ())]:
            await self._board.cancel.remote(each, keep)
        return JSONResponse({"job_id": job_id, "keep_partial": keep}, status_code=202)
