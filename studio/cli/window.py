"""`studio window`: the studio window, also what `studio` without a command opens."""

from __future__ import annotations

import argparse
import sys

from studio.cli.args import engine_token, token_arg


def register(sub: argparse._SubParsersAction) -> None:
    window = sub.add_parser("window", help="open the studio window (the default without a command)")
    window.add_argument(
        "--thread-engine",
        action="store_true",
        help="run the engine as a thread of the window's process instead of a child process "
        "(a crash of the engine then closes the window)",
    )
    engine_args(window)
    window.set_defaults(func=cmd_window)


def engine_args(parser: argparse.ArgumentParser) -> None:
    """--engine URL and --token-file: the window's jobs run on a served engine."""
    parser.add_argument(
        "--engine",
        metavar="URL",
        help="run the jobs on the engine served at URL (`studio serve`) instead of this computer",
    )
    token_arg(parser)


def cmd_window(args: argparse.Namespace) -> int:
    url = getattr(args, "engine", None)
    token = ""
    if url is not None:
        from studio.core.remote_api import EngineAddress

        try:
            url = EngineAddress.parse(url).url
        except ValueError as exc:
            print(f"studio: {exc}", file=sys.stderr)
            return 2
        token = engine_token(args)

    from studio.app import EngineKind, run

    thread = getattr(args, "thread_engine", False)
    kind = EngineKind.thread if thread else EngineKind.process
    return run(engine=kind, engine_url=url or "", engine_token=token)
