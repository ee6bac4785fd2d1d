"""RemoteEngine's side of the protocol, against a small scripted HTTP server (the real served
engine on Ray is tested in tests/cluster/test_serve.py)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from studio.core.commands import Configure, Submit
from studio.core.engine_options import EngineOptions
from studio.core.events import (
    EngineStatus,
    EngineStopped,
    JobFailed,
    JobFinished,
    JobStarted,
)
from studio.core.jobs import GenerateJob, LaneSpec
from studio.core.models import ModelRef
from studio.core.params import GenerationParams
from studio.core.remote_api import FRAMES_TYPE, HEALTH, JOBS, MODELS
from studio.core.wire import PROTOCOL_VERSION
from studio.core.wire_frames import encode
from studio.worker.remote_engine import RemoteEngine


class Script:
    """What the scripted server answers: its protocol, and how a job's stream goes."""

    def __init__(self, protocol: int = PROTOCOL_VERSION, drop_first: bool = False) -> None:
        self.protocol, self.drop_first, self.jobs = protocol, drop_first, 0


def serve(script: Script, port: int = 0) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _json(self, document: dict) -> None:
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == HEALTH:
                self._json({"protocol": script.protocol, "studio": "9", "replicas": 2})
            elif self.path == MODELS:
                self._json({"models": []})

        def do_POST(self) -> None:
            assert self.path == JOBS
            document = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            job_id = document["message"]["job"]["job_id"]
            script.jobs += 1
            self.send_response(200)
            self.send_header("Content-Type", FRAMES_TYPE)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(encode(JobStarted(job_id=job_id)))
            if script.drop_first and script.jobs == 1:
                return
            self.wfile.write(encode(JobFinished(job_id=job_id)))

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def job() -> GenerateJob:
    return GenerateJob(
        lane=LaneSpec(model=ModelRef.embedded("emoji-teacher"), params=GenerationParams())
    )


def collect(engine: RemoteEngine, until, during=None, timeout: float = 20.0) -> list:
    async def run() -> list:
        seen = []
        async for event in engine.listen():
            seen.append(event)
            if during is not None:
                during(event)
            if until(seen):
                return seen
        return seen

    return asyncio.run(asyncio.wait_for(run(), timeout))


def finished(n: int):
    return lambda seen: (
        sum(isinstance(e, JobFinished | JobFailed) and bool(e.job_id) for e in seen) >= n
    )


def test_a_server_of_another_protocol_version_is_refused_clearly():
    server = serve(Script(protocol=PROTOCOL_VERSION + 1))
    engine = RemoteEngine(f"http://127.0.0.1:{server.server_port}", retry_s=0.1)
    try:
        queued = job()
        engine.send(Submit(job=queued))
        seen = collect(engine, lambda s: isinstance(s[-1], EngineStopped))
        failed = [e for e in seen if isinstance(e, JobFailed)]
        assert failed and failed[0].job_id == queued.job_id
        assert f"protocol version {PROTOCOL_VERSION + 1}" in failed[0].message
        assert not engine.alive
        with pytest.raises(RuntimeError):
            engine.send(Submit(job=job()))
    finally:
        engine.close()
        server.shutdown()


def test_queued_jobs_wait_for_an_unreachable_engine_and_run_when_it_answers():
    port = free_port()
    engine = RemoteEngine(f"http://127.0.0.1:{port}", retry_s=0.1)
    servers = []
    try:
        first, second = job(), job()
        engine.send(Submit(job=first))
        engine.send(Submit(job=second))
        engine.send(Configure(options=EngineOptions()))

        def start_when_told(event) -> None:
            if isinstance(event, EngineStatus) and "Cannot reach" in event.text and not servers:
                servers.append(serve(Script(), port))

        seen = collect(engine, finished(2), during=start_when_told)
        texts = [e.text for e in seen if isinstance(e, EngineStatus)]
        assert sum("Cannot reach" in t for t in texts) == 1, "said once per outage"
        assert any(t.startswith("Connected to the engine") and "2 replica" in t for t in texts)
        ends = [e for e in seen if isinstance(e, JobFinished)]
        assert [e.job_id for e in ends] == [first.job_id, second.job_id]
        refused = [e for e in seen if isinstance(e, JobFailed) and not e.job_id]
        assert refused and "keeps the settings of its server" in refused[0].message
    finally:
        engine.close()
        for server in servers:
            server.shutdown()


def test_a_dropped_stream_fails_only_its_job_and_the_queue_goes_on():
    server = serve(Script(drop_first=True))
    engine = RemoteEngine(f"http://127.0.0.1:{server.server_port}", retry_s=0.1)
    try:
        first, second = job(), job()
        engine.send(Submit(job=first))
        engine.send(Submit(job=second))
        seen = collect(engine, finished(2))
        ends = [e for e in seen if isinstance(e, JobFinished | JobFailed)]
        assert isinstance(ends[0], JobFailed) and ends[0].job_id == first.job_id
        assert "dropped during this job" in ends[0].message
        assert isinstance(ends[1], JobFinished) and ends[1].job_id == second.job_id
    finally:
        engine.close()
        server.shutdown()
