"""What changed between two lock files, as Markdown lines (stdlib only).

python packaging/lock_diff.py OLD NEW
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lock_check import pins


def changes(old: dict[str, str], new: dict[str, str]) -> list[str]:
    lines = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if before is None:
            lines.append(f"- added {name} {after}")
        elif after is None:
            lines.append(f"- removed {name} {before}")
        else:
            lines.append(f"- {name} {before} -> {after}")
    return lines or ["- no version changed"]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    old_path, new_path = (Path(a) for a in argv)
    old = pins(old_path) if old_path.exists() else {}
    print("\n".join(changes(old, pins(new_path))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
