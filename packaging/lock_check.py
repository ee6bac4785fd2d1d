"""Checks that an environment holds exactly the versions a lock file pins (stdlib only).

    python packaging/lock_check.py LOCK [OVERLAY ...] [--quiet]

Exit 1, naming each difference, when a pinned distribution is missing or at another version;
distributions installed beside the lock (other than the project itself) are listed as a note.
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import distributions
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
# pip and the project itself are installed by the bootstrap, not from the lock.
NOT_PINNED = {"pip", "studio"}


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    return pins_of_text(lock.read_text(encoding="utf-8"))


def pins_of_text(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        match = PIN.match(line.strip())
        if match:
            found[normal(match.group(1))] = match.group(2)
    return found


def installed() -> dict[str, str]:
    return {normal(d.metadata["Name"]): d.version for d in distributions()}


def differences(wanted: dict[str, str], have: dict[str, str]) -> list[str]:
    problems = []
    for name, version in sorted(wanted.items()):
        if name not in have:
            problems.append(f"{name}=={version} is pinned but not installed")
        elif have[name] != version:
            problems.append(f"{name} is {have[name]}, the lock pins {version}")
    return problems


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    locks = [Path(arg) for arg in argv if arg != "--quiet"]
    wanted, have = {}, installed()
    for each in locks:
        wanted.update(pins(each))
    problems = differences(wanted, have)
    for problem in problems:
        print(f"lock_check: {problem}", file=sys.stderr)
    extra = sorted(set(have) - set(wanted) - NOT_PINNED)
    if extra and "--quiet" not in argv:
        print(f"lock_check: note: installed beside the lock: {', '.join(extra)}")
    if not problems and "--quiet" not in argv:
        names = " + ".join(each.name for each in locks)
        print(f"lock_check: all {len(wanted)} pins of {names} installed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
