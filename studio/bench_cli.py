"""`studio bench`: the benchmark suite (`python -m benchmarks`), from a source checkout."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

NOT_HERE = (
    "studio bench: the benchmark suite is not installed with the studio, only kept in its "
    "source repository: run `studio bench` (or `python -m benchmarks`) from the repository's "
    "root folder."
)


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser(
        "bench",
        help="run the benchmark suite and rewrite docs/BENCHMARKS.md (as python -m benchmarks; "
        "`studio bench --help` for its options)",
        add_help=False,
    )
    bench.add_argument("suite_args", nargs=argparse.REMAINDER)


def run(argv: Sequence[str]) -> int:
    """Hand the arguments to the suite; say so in one sentence when it cannot be found."""
    try:
        suite = importlib.import_module("benchmarks.suite")
    except ModuleNotFoundError as exc:
        if exc.name not in ("benchmarks", "benchmarks.suite"):
            raise
        print(NOT_HERE, file=sys.stderr)
        return 2
    return int(suite.main(list(argv)))
