"""Speed at the floor (issue 20): a one-shot `studio generate` with the 1-step student, wall time
from spawn to the PNG written, and where the time goes (`python -X importtime`).

Each run spawns `python -m studio generate --model emoji-student-1step --steps 1 --guidance 1`
with private HOME / XDG folders shared by all runs (so the fused-weights cache a returning user
has is warm after the warm-up run) and without OMP_NUM_THREADS, so torch picks its threads as it
does for a user. With `--before DIR` (a checkout of an
earlier commit, e.g. `git worktree add /tmp/before <rev>`) the same command runs from that
checkout's sources (PYTHONPATH) in turn with this one, interleaved, and the table compares them.
`--importtime` adds the import breakdown by top-level package (the self time of all of its
modules, so nothing is counted twice) for each checkout.

Run: `python -m benchmarks.one_shot [--runs N] [--before DIR] [--importtime] [--markdown PATH]`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.common import publish
from benchmarks.results import Stat

ROOT = Path(__file__).resolve().parents[1]
COMMAND = [
    "generate",
    "--model",
    "emoji-student-1step",
    "--steps",
    "1",
    "--guidance",
    "1",
    "--sampler",
    "DDIM trailing",
    "--prompt",
    "red heart, smileys & emotion, heart, noto style",
    "--quiet",
]
TARGET_S = 3.0
PACKAGES = ("torch", "diffusers", "transformers", "peft", "scipy", "sympy", "numpy", "studio")


def run_env(home: Path, source: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "HOME": str(home / "home"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }
    env.pop("OMP_NUM_THREADS", None)
    if source != ROOT:
        env["PYTHONPATH"] = str(source)
    return env


def one_run(home: Path, source: Path, extra: tuple[str, ...] = ()) -> tuple[float, str]:
    """Seconds from spawn to exit, and stderr."""
    out = home / "out.png"
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *extra, "-m", "studio", *COMMAND, "--out", str(out)],
        env=run_env(home, source),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode or not out.is_file():
        raise RuntimeError(f"studio generate failed from {source}: {done.stderr[-2000:]}")
    return wall, done.stderr


def import_breakdown(stderr: str) -> dict[str, float]:
    """Seconds per top-level package: the self time of all its modules' imports."""
    totals: Counter[str] = Counter()
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        totals[name.strip().split(".")[0]] += int(own) / 1e6
    return dict(totals)


def measure(runs: int, sources: dict[str, Path]) -> dict[str, Stat]:
    walls: dict[str, list[float]] = {label: [] for label in sources}
    with tempfile.TemporaryDirectory(prefix="studio-one-shot-") as tmp:
        home = Path(tmp)
        for source in sources.values():
            one_run(home, source)
        for _ in range(runs):
            for label, source in sources.items():
                walls[label].append(one_run(home, source)[0])
    return {label: Stat.of(values) for label, values in walls.items()}


def breakdowns(sources: dict[str, Path]) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="studio-one-shot-imports-") as tmp:
        home = Path(tmp)
        out = {}
        for label, source in sources.items():
            one_run(home, source)
            out[label] = import_breakdown(one_run(home, source, ("-X", "importtime"))[1])
        return out


def markdown(walls: dict[str, Stat], imports: dict[str, dict[str, float]] | None) -> str:
    lines = [
        "| checkout | spawn → PNG written, s, median (IQR) | target |",
        "|---|---|---|",
    ]
    lines += [f"| {label} | {stat.text(2)} | ≤ {TARGET_S} s |" for label, stat in walls.items()]
    if imports:
        labels = list(imports)
        lines += ["", "| import self time, s | " + " | ".join(labels) + " |"]
        lines += ["|---|" + "---|" * len(labels)]
        for package in PACKAGES:
            cells = [f"{imports[label].get(package, 0.0):.2f}" for label in labels]
            lines.append(f"| {package} | " + " | ".join(cells) + " |")
        rest = [sum(v for k, v in imports[label].items() if k not in PACKAGES) for label in labels]
        lines.append("| everything else | " + " | ".join(f"{r:.2f}" for r in rest) + " |")
        totals = [f"{sum(imports[label].values()):.2f}" for label in labels]
        lines.append("| all imports | " + " | ".join(totals) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.one_shot", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", type=Path, help="a checkout of the commit to compare with")
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    sources = {"this checkout": ROOT}
    if args.before:
        sources = {f"before ({args.before})": args.before.resolve(), **sources}
    walls = measure(args.runs, sources)
    imports = breakdowns(sources) if args.importtime else None
    text = markdown(walls, imports)
    publish(text, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
