"""Start-up time: from spawning `python -m studio` to the window's first paint.

Each run starts a fresh process with a private home, config and data folder (so no settings or
gallery of the user's are read) and `STUDIO_STARTUP_PROBE` set: the app writes the wall-clock
time of the window's first paint to that file and closes itself. Reports the median of the runs.
Run: `python -m benchmarks.startup [--runs 5] [--platform offscreen|xcb] [--command CMD]`;
`--command dist/studio/studio` times the desktop bundle instead of `python -m studio`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from studio.app import STARTUP_PROBE_ENV

TARGET_S = 1.5


def one_run(
    folder: Path, platform: str, command: Sequence[str] | None = None
) -> tuple[float, float]:
    """Seconds from spawn to the first paint, and from spawn to the process's exit."""
    probe = folder / "probe.txt"
    probe.unlink(missing_ok=True)
    env = {
        **os.environ,
        "HOME": str(folder / "home"),
        "XDG_CONFIG_HOME": str(folder / "config"),
        "XDG_DATA_HOME": str(folder / "data"),
        "XDG_STATE_HOME": str(folder / "state"),
        "QT_QPA_PLATFORM": platform,
        STARTUP_PROBE_ENV: str(probe),
    }
    started = time.time()
    subprocess.run(
        list(command or [sys.executable, "-m", "studio"]),
        env=env,
        check=True,
        timeout=120,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    exited = time.time()
    shown = float(probe.read_text(encoding="utf-8"))
    return shown - started, exited - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--platform", default=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    parser.add_argument("--command", default="", help="what to start (default: python -m studio)")
    args = parser.parse_args()
    command = shlex.split(args.command) or None
    shown: list[float] = []
    exited: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        one_run(Path(tmp), args.platform, command)
        for _ in range(args.runs):
            first_paint, exit_s = one_run(Path(tmp), args.platform, command)
            shown.append(first_paint)
            exited.append(exit_s)
    median = statistics.median(shown)
    verdict = "met" if median < TARGET_S else "missed"
    what = args.command or "python -m studio"
    print(
        f"{what}: {args.runs} runs after one warm-up, Qt platform {args.platform}, "
        f"{os.cpu_count()} cores."
    )
    print()
    print("| measure | median | min | max | target |")
    print("|---|---|---|---|---|")
    print(
        f"| spawn → window first painted | {median:.2f} s | {min(shown):.2f} s |"
        f" {max(shown):.2f} s | < {TARGET_S} s ({verdict}) |"
    )
    print(
        f"| spawn → process exited (closes at once) | {statistics.median(exited):.2f} s |"
        f" {min(exited):.2f} s | {max(exited):.2f} s | – |"
    )


if __name__ == "__main__":
    main()
