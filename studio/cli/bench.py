"""`studio bench`: the benchmark suite (`python -m benchmarks`), from a source checkout."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

NOT_HERE = (
    "studio bench: the benchmark suite is not installed with the studio, only kept in its "
    "source repository: run `studio bench` (or `python -m benchmarks`) in a checkout of the "
    "repository, from its root folder."
)
SOURCE_ROOT = Path(__file__).resolve().parents[2]


def register(sub: argparse._SubParsersAction) -> None:
    """Listed in `studio --help`; `main` hands `studio bench ...` to `run` before parsing, so the
    suite's own options reach it untouched."""
    bench = sub.add_parser(
        "bench",
        help="run the benchmark suite and rewrite docs/BENCHMARKS.md (as python -m benchmarks; "
        "`studio bench --help` for its options)",
        add_help=False,
    )
    bench.add_argument("suite_args", nargs=argparse.REMAINDER)
    bench.set_defaults(func=cmd_bench)


def checkout_root() -> Path | None:
    """The source checkout holding the suite: the current folder, or the one this studio
    package was installed from in editable mode."""
    for folder in (Path.cwd(), SOURCE_ROOT):
        if (folder / "benchmarks" / "suite.py").is_file():
            return folder
    return None


def cmd_bench(args: argparse.Namespace) -> int:
    return run(args.suite_args)


def run(argv: Sequence[str]) -> int:
    """Hand the arguments to the suite; say so in one sentence when it cannot be found."""
    root = checkout_root()
    if root is None:
        print(NOT_HERE, file=sys.stderr)
        return 2
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    suite = importlib.import_module("benchmarks.suite")
    return int(suite.main(list(argv)))
