"""RemoteEngine: a served engine (`studio serve`) behind the same EngineClient protocol.

Plain HTTP/1.1 from the standard library, no Ray: the window and the CLI talk to a server with
the routes of `studio.core.remote_api`. Jobs go in the order they were sent, one at a time for
the window (or `parallel` at once, for a batch the server spreads over its replicas), each as
one POST whose response streams the job's events as wire frames (no pickle); a cancel is a
second, short request. The server checks the protocol version first: another version is
refused in one sentence, and the engine stops.

A dropped connection fails only the job it carried (one sentence); the queued jobs wait while
this side retries every `retry_s` and says so on the status line, and go on when the server
answers again. A job whose request never reached the server stays queued.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import threading
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from studio.core.commands import Cancel, Command, Configure, LoadModel, Shutdown, Submit
from studio.core.events import (
    FINAL_EVENTS,
    EngineStatus,
    EngineStopped,
    Event,
    JobCancelled,
    JobFailed,
    JobQueued,
    PreviewReady,
)
from studio.core.jobs import Job
from studio.core.remote_api import (
    FRAMES_TYPE,
    HEALTH,
    JOBS,
    MODELS,
    EngineAddress,
    cancel_path,
)
from studio.core.wire import PROTOCOL_VERSION, to_json_dict
from studio.core.wire_frames import read_frame
from studio.core.wire_types import WireError
from studio.worker.host import NOT_APPLIED
from studio.worker.mailbox import EventChannel, stream_of

log = logging.getLogger(__name__)

CONNECTED = "Connected to the engine at {url}: studio {studio}, {replicas} replica(s) on {device}."
UNREACHABLE = "Cannot reach the engine at {url} ({why}); retrying every {retry:g} s…"
DROPPED = (
    "The connection to the engine at {url} dropped during this job ({why}); the queued jobs "
    "wait for it to come back."
)
OTHER_PROTOCOL = (
    "The engine at {url} speaks protocol version {theirs}, and this Studio speaks {ours}: "
    "update the older of the two."
)
NOT_AN_ENGINE = "{url} does not answer as a Studio engine ({why})."
KEEPS_SETTINGS = NOT_APPLIED.format(why="a served engine keeps the settings of its server.")
CLOSED = "The remote engine was closed."


class Refused(Exception):
    """The server answered a request with a 4xx or 5xx and one sentence."""


class RemoteEngine:
    """Implements EngineClient with the engine on a server: sends each job over HTTP, relays
    its streamed events to the one async consumer, and survives a dropped connection."""

    def __init__(
        self,
        url: str,
        token: str = "",
        *,
        timeout_s: float = 10.0,
        retry_s: float = 2.0,
        parallel: int = 1,
    ) -> None:
        if parallel < 1:
            raise ValueError(f"A remote engine runs at least one job at a time, not {parallel}.")
        self.address = EngineAddress.parse(url)
        self._token, self._timeout_s, self._retry_s = token, timeout_s, retry_s
        self._channel = EventChannel()
        self._wake = threading.Condition()
        self._queue: deque[Job] = deque()
        self._running: set[str] = set()
        self._streams: dict[int, http.client.HTTPConnection] = {}
        self._closing = False
        self._stopped = False
        self._said = ""
        self._threads = [
            threading.Thread(target=self._work, name=f"studio-remote-{i}", daemon=True)
            for i in range(parallel)
        ]
        for thread in self._threads:
            thread.start()

    # -- the EngineClient protocol -----------------------------------------------------------

    def send(self, command: Command) -> None:
        match command:
            case Submit(job=job):
                with self._wake:
                    if self._closing or self._stopped:
                        raise RuntimeError(CLOSED)
                    self._queue.append(job)
                    position = len(self._queue) + len(self._running)
                    self._wake.notify_all()
                self._channel.emit(JobQueued(job_id=job.job_id, position=position))
            case Cancel(job_id=job_id, keep_partial=keep):
                self.cancel(job_id, keep)
            case Configure():
                self._channel.emit(JobFailed(job_id="", message=KEEPS_SETTINGS))
            case LoadModel():
                pass  # a served engine loads what its jobs need
            case Shutdown():
                self.close()

    def cancel(self, job_id: str, keep_partial: bool = False) -> None:
        with self._wake:
            queued = next((job for job in self._queue if job.job_id == job_id), None)
            if queued is not None:
                self._queue.remove(queued)
            running = job_id in self._running
        if queued is not None:
            self._channel.emit(JobCancelled(job_id=job_id))
        elif running:
            threading.Thread(
                target=self._post_cancel, args=(job_id, keep_partial), daemon=True
            ).start()

    def listen(self) -> AsyncIterator[Event]:
        return stream_of(self._channel)

    def close(self, timeout: float = 10.0) -> None:
        with self._wake:
            already, self._closing = self._closing, True
            queued, self._queue = list(self._queue), deque()
            running = list(self._running)
            self._wake.notify_all()
        if already:
            self._join(timeout)
            return
        for job in queued:
            self._channel.emit(JobCancelled(job_id=job.job_id))
        for job_id in running:
            self._post_cancel(job_id, False)
        self._join(timeout)
        if any(thread.is_alive() for thread in self._threads):
            for key in list(self._streams):
                self._drop_stream(key)
            self._join(2.0)
        self._channel.emit(EngineStopped())

    @property
    def alive(self) -> bool:
        return (
            not self._stopped
            and not self._closing
            and any(thread.is_alive() for thread in self._threads)
        )

    def revive(self) -> bool:
        return False

    def restart(self) -> bool:
        """A served engine is restarted on its server, never from a client."""
        return False

    # -- the connection thread ---------------------------------------------------------------

    def _work(self) -> None:
        connected = False
        while True:
            if not connected:
                connected = self._connect()
                if self._stopped or self._closing:
                    return
                if not connected:
                    with self._wake:
                        self._wake.wait(self._retry_s)
                    continue
            job = self._next_job()
            if job is None:
                return
            connected = self._run(job)

    def _connect(self) -> bool:
        """Ask the server's health; say what answered. False while it cannot be reached."""
        try:
            health = self._health()
        except (OSError, http.client.HTTPException) as exc:
            self._status(
                UNREACHABLE.format(url=self.address.url, why=_why(exc), retry=self._retry_s)
            )
            return False
        except Refused as exc:
            self._stop(str(exc))
            return False
        theirs = health.get("protocol")
        if theirs != PROTOCOL_VERSION:
            self._stop(
                OTHER_PROTOCOL.format(url=self.address.url, theirs=theirs, ours=PROTOCOL_VERSION)
            )
            return False
        try:
            self._get(MODELS)
        except Refused as exc:
            self._stop(str(exc))
            return False
        except (OSError, http.client.HTTPException) as exc:
            self._status(
                UNREACHABLE.format(url=self.address.url, why=_why(exc), retry=self._retry_s)
            )
            return False
        self._status(
            CONNECTED.format(
                url=self.address.url,
                studio=health.get("studio", "?"),
                replicas=health.get("replicas", "?"),
                device=health.get("device", "?"),
            )
        )
        return True

    def _next_job(self) -> Job | None:
        with self._wake:
            while not self._queue and not self._closing and not self._stopped:
                self._wake.wait()
            if self._closing or self._stopped:
                return None
            job = self._queue.popleft()
            self._running.add(job.job_id)
            return job

    def _run(self, job: Job) -> bool:
        """Stream one job; whether the connection held."""
        sent = False
        try:
            response = self._submit(job)
            sent = True
            self._relay(job.job_id, response)
            return True
        except Refused as exc:
            self._channel.emit(JobFailed(job_id=job.job_id, message=str(exc)))
            return True
        except (OSError, http.client.HTTPException, WireError) as exc:
            if self._closing:
                self._channel.emit(JobCancelled(job_id=job.job_id))
            elif sent:
                message = DROPPED.format(url=self.address.url, why=_why(exc))
                self._channel.emit(JobFailed(job_id=job.job_id, message=message))
            else:
                with self._wake:
                    self._queue.appendleft(job)
            return False
        finally:
            with self._wake:
                self._running.discard(job.job_id)
            self._drop_stream(threading.get_ident())

    def _submit(self, job: Job) -> http.client.HTTPResponse:
        body = json.dumps(to_json_dict(Submit(job=job))).encode("utf-8")
        connection = self._connection()
        self._streams[threading.get_ident()] = connection
        connection.request("POST", self.address.prefix + JOBS, body, self._headers(FRAMES_TYPE))
        response = connection.getresponse()
        if response.status != 200:
            raise Refused(_error_of(response))
        if connection.sock is not None:
            connection.sock.settimeout(None)  # a step may take long; close() ends the wait
        return response

    def _relay(self, job_id: str, response: http.client.HTTPResponse) -> None:
        while (event := read_frame(response)) is not None:
            if isinstance(event, PreviewReady):
                self._channel.replace_preview(event)
            else:
                self._channel.emit(event)  # type: ignore[arg-type]
            if isinstance(event, FINAL_EVENTS) and event.job_id == job_id:
                return
        raise ConnectionError("the stream ended before the job did")

    def _health(self) -> dict[str, Any]:
        return self._get(HEALTH)

    def _get(self, path: str) -> dict[str, Any]:
        """A route's JSON document; Refused for an error answer or something not a document."""
        connection = self._connection()
        try:
            connection.request("GET", self.address.prefix + path, headers=self._headers())
            response = connection.getresponse()
            if response.status != 200:
                raise Refused(_error_of(response))
            try:
                document = json.loads(response.read(64 * 1024))
            except ValueError:
                document = None
            if not isinstance(document, dict):
                raise Refused(NOT_AN_ENGINE.format(url=self.address.url, why="no health document"))
            return document
        finally:
            connection.close()

    def _post_cancel(self, job_id: str, keep_partial: bool) -> None:
        connection = self._connection()
        try:
            body = json.dumps({"keep_partial": keep_partial}).encode()
            connection.request(
                "POST", self.address.prefix + cancel_path(job_id), body, self._headers()
            )
            response = connection.getresponse()
            if response.status >= 400:
                log.warning("cancelling %s: %s", job_id, _error_of(response))
        except (OSError, http.client.HTTPException) as exc:
            log.warning("cancelling %s failed: %s", job_id, exc)
        finally:
            connection.close()

    def _connection(self) -> http.client.HTTPConnection:
        kind = (
            http.client.HTTPSConnection
            if self.address.scheme == "https"
            else http.client.HTTPConnection
        )
        return kind(self.address.host, self.address.port, timeout=self._timeout_s)

    def _headers(self, accept: str = "application/json") -> dict[str, str]:
        headers = {"Accept": accept, "Content-Type": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def _join(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def _drop_stream(self, key: int) -> None:
        connection = self._streams.pop(key, None)
        if connection is not None and connection.sock is not None:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)
            connection.close()

    def _unreachable(self, exc: BaseException) -> None:
        self._status(UNREACHABLE.format(url=self.address.url, why=_why(exc), retry=self._retry_s))

    def _status(self, text: str) -> None:
        """Say it on the status line, once while it stays true (a retry says it again only
        when the reason changes)."""
        if text != self._said:
            self._said = text
            self._channel.emit(EngineStatus(text=text))

    def _stop(self, message: str) -> None:
        """End for good (a refused token, another protocol): every queued job fails with it."""
        with self._wake:
            if self._stopped:
                return
            self._stopped = True
            queued, self._queue = list(self._queue), deque()
            self._wake.notify_all()
        for job in queued:
            self._channel.emit(JobFailed(job_id=job.job_id, message=message))
        self._channel.emit(EngineStopped(reasons=(message,)))


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.split("\n", 1)[0][:120]


def _error_of(response: http.client.HTTPResponse) -> str:
    try:
        document = json.loads(response.read(64 * 1024))
        message = document.get("error") if isinstance(document, dict) else None
    except ValueError:
        message = None
    return str(message) if message else f"The engine answered HTTP {response.status}."
