"""`studio window`: the studio window, also what `studio` without a command opens."""

from __future__ import annotations

import argparse
import sys

from studio.cli.args import engine_token, token_arg
from studio.core.client import EngineClient


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

    thread = getattr(args, "thread_engine", False)
    early = early_engine() if not (url or thread) else None
    try:
        from studio.app import EngineKind, run

        kind = EngineKind.thread if thread else EngineKind.process
        return run(engine=kind, engine_url=url or "", engine_token=token, client=early)
    except BaseException:
        if early is not None:
            early.close()
        raise


def early_engine() -> EngineClient:
    """The engine process, started before the window's own imports (Qt, the UI), so that torch
    imports in the child while the window is built: the first image comes that much sooner."""
    from studio.core.settings import default_settings_path, peek_settings
    from studio.worker.process_engine import ProcessEngine

    return ProcessEngine(options=peek_settings(default_settings_path()).engine)
