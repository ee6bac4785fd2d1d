"""How an engine process starts (its command line, plain or frozen, and environment), and
how it ended, in words for a sentence."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import studio
from studio.core.commands import Configure
from studio.core.engine_options import EngineOptions
from studio.core.wire import to_json_dict

FROZEN_FLAG = "--engine-child"
"""The first argument that makes a frozen bundle's executable the engine process."""
CHILD_MODULE = "studio.worker.engine_child"


def describe_exit(code: int | None) -> str:
    """How a process ended, as the middle of a sentence ("was killed (SIGKILL, ...)")."""
    if code is None:
        return "stopped answering"
    if code >= 0:
        return "exited unexpectedly" if code == 0 else f"exited with code {code}"
    name = _signal_name(-code)
    if -code == signal.SIGKILL:
        return f"was killed ({name}, often the system running out of memory)"
    if -code in (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT):
        return f"crashed ({name}) in native code"
    return f"was stopped by {name}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def child_command(runner: str, options: EngineOptions | None, restarted: bool) -> list[str]:
    """The engine process's command line: `python -m ...`, or the frozen bundle's executable."""
    if getattr(sys, "frozen", False):
        head = [sys.executable, FROZEN_FLAG]
    else:
        head = [sys.executable, "-m", CHILD_MODULE]
    args = ["--runner", runner, "--parent-pid", str(os.getpid())]
    if options is not None:
        args += [
            "--options",
            json.dumps(to_json_dict(Configure(options=options)), separators=(",", ":")),
        ]
    return head + args + (["--restarted"] if restarted else [])


def child_environment() -> dict[str, str] | None:
    """The child's environment: this one, with this `studio` package importable."""
    if getattr(sys, "frozen", False):
        return None
    env = dict(os.environ)
    root = str(Path(studio.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env
