"""Writes the overlay lock of an optional extra: the entries of a full lock that a base lock lacks.

    python packaging/lock_overlay.py BASE FULL OUT

FULL was resolved with every pin of BASE as a constraint, so the two agree on what they share;
this checks it (exit 1, naming each pin that differs) and writes to OUT, with their hashes and
"via" notes, only the distributions BASE does not pin. The bootstrap installs BASE and then OUT,
both with --require-hashes --no-deps, so the extra adds packages and changes none (stdlib only).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
HEADER = (
    "# The cluster extra's overlay lock (Ray): installed after the base lock by\n"
    "# `bash packaging/bootstrap.sh --test` or `--cluster`. Written by packaging/relock.sh.\n"
)


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def entries(text: str) -> dict[str, tuple[str, list[str]]]:
    """Each pinned distribution's name, version and lines (the pin, its hashes, its notes)."""
    found: dict[str, tuple[str, list[str]]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        match = PIN.match(line)
        if match:
            current = [line]
            found[normal(match.group(1))] = (match.group(2), current)
        elif current is not None and line.startswith(" "):
            current.append(line)
        else:
            current = None
    return found


def overlay(base: str, full: str) -> tuple[str, list[str]]:
    have, wanted = entries(base), entries(full)
    problems = [
        f"{name} is {version} in the full lock but {have[name][0]} in the base lock"
        for name, (version, _) in sorted(wanted.items())
        if name in have and have[name][0] != version
    ]
    lines = [
        line for name, (_, block) in sorted(wanted.items()) if name not in have for line in block
    ]
    return HEADER + "\n".join(lines) + "\n", problems


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    base, full, out = (Path(arg) for arg in argv)
    text, problems = overlay(base.read_text(encoding="utf-8"), full.read_text(encoding="utf-8"))
    for problem in problems:
        print(f"lock_overlay: {problem}", file=sys.stderr)
    if problems:
        return 1
    out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
