"""`studio window`: the studio window, also what `studio` without a command opens."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    window = sub.add_parser("window", help="open the studio window (the default without a command)")
    window.add_argument(
        "--thread-engine",
        action="store_true",
        help="run the engine as a thread of the window's process instead of a child process "
        "(a crash of the engine then closes the window)",
    )
    window.set_defaults(func=cmd_window)


def cmd_window(args: argparse.Namespace) -> int:
    from studio.app import EngineKind, run

    thread = getattr(args, "thread_engine", False)
    return run(engine=EngineKind.thread if thread else EngineKind.process)
