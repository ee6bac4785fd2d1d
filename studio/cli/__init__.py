"""The `studio` command: the window by default, and headless generate / compare / inspect."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from studio.cli import bench, dataset, desktop, generate, info, lab, serve, studies, window
from studio.core.params import ValidationError

# In `studio --help` order; each group adds its sub-commands, each with its `func`.
GROUPS = (generate, info, window, studies, desktop, lab, dataset, serve, bench)
CLOSED_STDOUT = 141  # 128 + SIGPIPE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio", description=__doc__)
    window.engine_args(parser)
    sub = parser.add_subparsers(dest="command")
    for group in GROUPS:
        group.register(sub)
    parser.set_defaults(func=window.cmd_window)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a reader that closes our stdout early (`studio params x.png | head`)
    ends it quietly with the shell's SIGPIPE status, 141, instead of a traceback."""
    try:
        code = _main(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        return closed_stdout()
    return code


def closed_stdout() -> int:
    """Point stdout at the null device, so the interpreter's last flush at exit cannot fail
    again, and give the status a shell gives a command SIGPIPE ended."""
    import os

    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return CLOSED_STDOUT


def _main(argv: Sequence[str] | None) -> int:
    from studio.core.logs import configure_logging

    configure_logging()
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["bench"]:
        return bench.run(words[1:])
    args = build_parser().parse_args(words)
    try:
        return args.func(args)
    except ValidationError as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return 2
