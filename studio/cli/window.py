"""`studio window`: the studio window, also what `studio` without a command opens."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    window = sub.add_parser("window", help="open the studio window (the default without a command)")
    window.set_defaults(func=cmd_window)


def cmd_window(args: argparse.Namespace) -> int:
    from studio.app import run

    return run()
