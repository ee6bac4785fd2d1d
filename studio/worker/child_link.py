"""One engine process and the threads that serve its three pipes."""

from __future__ import annotations

import contextlib
import logging
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO

from studio.core.wire import Message
from studio.core.wire_frames import read_frame
from studio.core.wire_types import WireError

log = logging.getLogger(__name__)
child_log = logging.getLogger("studio.engine_process")

LEVELS = {name: getattr(logging, name) for name in ("DEBUG", "INFO", "WARNING", "ERROR")}
LEVELS["CRITICAL"] = logging.CRITICAL


class ChildLink:
    """Starts one engine process, writes its command frames (queued, so a sender never waits
    on the pipe), reads its event frames and log lines, and reports each message and its end.

    What the process engine knows about this one process lives here too: the jobs it was sent
    and started, the one it runs, whether it said it stopped, and why it is being retired."""

    def __init__(
        self,
        command: Callable[[], Sequence[str]],
        env: dict[str, str] | None,
        on_message: Callable[[ChildLink, Message], None],
        on_end: Callable[[ChildLink], None],
    ) -> None:
        self.command, self.env = command, env
        self.argv: list[str] = []
        self._on_message, self._on_end = on_message, on_end
        self._outbox: queue.Queue[bytes | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self.process: subprocess.Popen[bytes] | None = None
        self.sent: set[str] = set()
        self.configured = False
        self.started: set[str] = set()
        self.running: str | None = None
        self.stopped_reasons: tuple[str, ...] | None = None
        self.retiring = ""
        self.deadline = 0.0
        self.broken = ""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, prelude: Sequence[bytes] = ()) -> None:
        """Start the process with the command line `command` gives now; `prelude` frames are
        written before any frame `put` so far."""
        self.argv = list(self.command())
        self.process = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
        )
        streams = self.process.stdin, self.process.stdout, self.process.stderr
        assert streams[0] and streams[1] and streams[2]
        self._spawn(self._write, "studio-engine-commands", streams[0], list(prelude))
        self._spawn(self._read, "studio-engine-events", streams[1])
        self._spawn(self._forward_log, "studio-engine-log", streams[2])

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def put(self, frame: bytes) -> None:
        self._outbox.put(frame)

    def finish(self) -> None:
        """Close the process's stdin once the frames queued so far are written."""
        self._outbox.put(None)

    def retire(self, why: str, last_frame: bytes, grace_s: float) -> None:
        """Send `last_frame` (Shutdown), close stdin, and allow `grace_s` before a kill."""
        self.retiring = why
        self.deadline = time.monotonic() + grace_s
        self.put(last_frame)
        self.finish()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            log.warning("killing the engine process %d", self.process.pid)
            self.process.kill()

    def reap(self, timeout: float) -> int | None:
        """The exit status once the process ended (killed after `timeout`); None if not started."""
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.process.wait()

    def join(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, end - time.monotonic()))

    def _write(self, stream: IO[bytes], prelude: list[bytes]) -> None:
        pending: list[bytes | None] = list(prelude)
        while True:
            frame = pending.pop(0) if pending else self._outbox.get()
            if frame is None:
                break
            self._write_one(stream, frame)
        with contextlib.suppress(OSError):
            stream.close()

    def _write_one(self, stream: IO[bytes], frame: bytes) -> None:
        with contextlib.suppress(OSError):
            stream.write(frame)
            stream.flush()

    def _read(self, stream: IO[bytes]) -> None:
        try:
            while (message := read_frame(stream)) is not None:
                self._deliver(message)
        except (WireError, OSError) as exc:
            self.broken = str(exc)
            log.error("the engine process sent what cannot be read: %s", exc)
            self.kill()
        finally:
            self._on_end(self)

    def _deliver(self, message: Message) -> None:
        try:
            self._on_message(self, message)
        except Exception:
            log.exception("handling the engine's %s failed", type(message).__name__)

    def _forward_log(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                level = LEVELS.get(line.split(" ", 1)[0], logging.WARNING)
                child_log.log(level, "[engine %s] %s", self.pid, line)
