"""The engine process's main: an EngineHost between two pipes of wire frames.

The window starts it as `python -m studio.worker.engine_child` (or, in a frozen bundle, as the
bundle's executable with `--engine-child` first: see `maybe_run_engine_child`). Command frames
arrive on stdin, event frames leave on stdout, log lines go to stderr (the window writes them
to its log). torch is imported here, on the engine thread, and never in the window.

The process ends when the engine stops (a `Shutdown` frame), when stdin ends (the window is
gone), or when its parent dies: Linux delivers SIGKILL then (`PR_SET_PDEATHSIG`), and a thread
watching `os.getppid()` covers the systems without it.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import faulthandler
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import BinaryIO

from studio.core.commands import Configure, Shutdown
from studio.core.engine_options import EngineOptions
from studio.core.events import EngineStatus
from studio.core.wire import from_json_dict
from studio.core.wire_control import PreviewTaken
from studio.core.wire_frames import read_frame, write_frame
from studio.core.wire_types import WireError
from studio.worker.child_start import FROZEN_FLAG
from studio.worker.host import EngineHost, JobRunner, judged_runner
from studio.worker.preview_credits import CreditedChannel

log = logging.getLogger(__name__)

RESTARTED = "The engine restarted; it loads models again as jobs need them."
STARTING = "Starting the engine: importing torch…"
READY = "Engine ready."
ANNOUNCED = frozenset({"default", "benchmark"})
"""The runners slow enough to build that the status line follows their start."""
PARENT_POLL_S = 0.5
PR_SET_PDEATHSIG = 1


def pretend_runner(options: EngineOptions | None) -> JobRunner:
    """A scripted runner without torch (`studio.worker.pretend_runner`)."""
    from studio.worker.pretend_runner import PretendRunner

    runner = PretendRunner()
    if options is not None:
        runner.configure(options)
    return runner


def benchmark_runner(options: EngineOptions | None) -> JobRunner:
    """The default runner instrumented for the benchmark suite (`studio.worker.bench_runner`)."""
    from studio.worker.bench_runner import benchmark_runner as build

    return build(options)


RUNNERS: dict[str, Callable[[EngineOptions | None], JobRunner]] = {
    "default": judged_runner,
    "pretend": pretend_runner,
    "benchmark": benchmark_runner,
}
"""The runners a command line may name: a fixed table, never a module path."""


def announced(build: Callable[[], JobRunner], channel: CreditedChannel) -> Callable[[], JobRunner]:
    """`build`, telling the window's status line when it starts and when it is done."""

    def factory() -> JobRunner:
        channel.emit(EngineStatus(text=STARTING))
        runner = build()
        channel.emit(EngineStatus(text=READY))
        return runner

    return factory


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="studio-engine", description=__doc__)
    parser.add_argument("--runner", choices=sorted(RUNNERS), default="default")
    parser.add_argument("--options", help="the engine settings, a Configure in wire JSON")
    parser.add_argument("--parent-pid", type=int, default=0)
    parser.add_argument("--restarted", action="store_true", help="say so when ready")
    return parser.parse_args(list(argv))


def options_of(text: str | None) -> EngineOptions | None:
    """The settings of a `--options` argument (a Configure command's wire JSON)."""
    if not text:
        return None
    message = from_json_dict(json.loads(text))
    if not isinstance(message, Configure):
        raise WireError(f"--options must hold a Configure, not a {type(message).__name__}.")
    return message.options


def watch_parent(parent_pid: int) -> None:
    """End this process when its parent dies: at once on Linux, else within a poll."""
    if not parent_pid:
        return
    _set_parent_death_signal()
    if os.getppid() != parent_pid:
        os._exit(0)
    thread = threading.Thread(
        target=_poll_parent, args=(parent_pid,), name="studio-parent-watch", daemon=True
    )
    thread.start()


def _set_parent_death_signal() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        log.warning("could not ask to die with the parent; polling for it instead")


def _poll_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_S)
    log.error("the window's process %d is gone; the engine process ends", parent_pid)
    os._exit(0)


def protocol_streams() -> tuple[BinaryIO, BinaryIO]:
    """stdin for frames in, and the real stdout for frames out; fd 1 (print, a library's
    chatter) then goes to stderr, so nothing but frames ever reaches the pipe."""
    frames_out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return sys.stdin.buffer, frames_out


def read_commands(stream: BinaryIO, host: EngineHost, channel: CreditedChannel) -> None:
    """Hand each command frame to the host until Shutdown, the end of stdin, or a bad frame."""
    try:
        while (message := read_frame(stream)) is not None:
            if isinstance(message, PreviewTaken):
                channel.grant(message.job_id, message.lane, message.step)
            elif isinstance(message, Shutdown):
                break
            else:
                _send(host, message)
    except (WireError, OSError) as exc:
        log.error("the command stream broke: %s", exc)
    host.close()


def _send(host: EngineHost, message: object) -> None:
    try:
        host.send(message)  # type: ignore[arg-type]
    except RuntimeError as exc:
        log.warning("a command came after the engine stopped: %s", exc)


async def pump(host: EngineHost, channel: CreditedChannel, out: BinaryIO, restarted: bool) -> None:
    """Write every event of the host to the pipe, until the host stops."""
    if restarted:
        write_frame(out, EngineStatus(text=RESTARTED))
    async for event in host.listen():
        write_frame(out, event)
        channel.written(event)


def configure_child_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    faulthandler.enable(sys.stderr)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    watch_parent(args.parent_pid)
    configure_child_logging()
    frames_in, frames_out = protocol_streams()
    channel = CreditedChannel()
    factory: Callable[[], JobRunner] = partial(RUNNERS[args.runner], options_of(args.options))
    if args.runner in ANNOUNCED:
        factory = announced(factory, channel)
    host = EngineHost(runner_factory=factory, channel=channel)
    reader = threading.Thread(
        target=read_commands, args=(frames_in, host, channel), name="studio-commands", daemon=True
    )
    reader.start()
    try:
        asyncio.run(pump(host, channel, frames_out, args.restarted))
    except OSError as exc:
        log.error("the event pipe broke (%s); the engine process ends", exc)
        return 1
    return 0


def exit_now(code: int) -> None:
    """Leave without the interpreter's shutdown (a native library's exit hooks can hang)."""
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)


def maybe_run_engine_child(argv: Sequence[str]) -> bool:
    """For a frozen bundle's entry point, called first with sys.argv: when it starts the
    engine process (`<exe> --engine-child ...`), run that and end the process (no return);
    otherwise return False at once, and the entry point goes on to open the window."""
    if len(argv) < 2 or argv[1] != FROZEN_FLAG:
        return False
    exit_now(main(argv[2:]))
    return True


if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))
