"""Writing the suite's results: a marked block in docs/BENCHMARKS.md and the raw JSON beside it.

Only the text between BEGIN and END is the suite's; everything else in the file is written by
hand and kept as it is. Both files are replaced atomically.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from benchmarks.results import PartResult, RunInfo
from studio.core.atomic import atomic_write_text

BEGIN = "<!-- suite:begin (written by `python -m benchmarks`; edits inside are overwritten) -->"
END = "<!-- suite:end -->"
BEGIN_PREFIX = "<!-- suite:begin"
SCHEMA = 1
QUICK_WARNING = " **Quick run (tiny repeat counts): the numbers are not valid.**"


class ReportError(ValueError):
    """The report file cannot be updated safely, in one sentence."""


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_text() -> str:
    import psutil

    ram = psutil.virtual_memory().total / 1024**3
    return f"{cpu_model()}, {os.cpu_count()} cores, {ram:.0f} GiB RAM, {platform.system()}"


REPORTED = ("torch", "diffusers", "transformers", "PySide6-Essentials")


def lock_file(root: Path) -> Path:
    """The lock the README's commands install on this machine (STUDIO_LOCK when set)."""
    import torch

    name = "linux-x86_64-py311-cuda.txt" if torch.version.cuda else "linux-x86_64-py311-cpu.txt"
    return Path(os.environ.get("STUDIO_LOCK") or root / "packaging" / "locks" / name)


def versions_text(root: Path) -> str:
    """The reported versions as the lock pins them, and whether this environment is exactly it."""
    import importlib.util

    checker = root / "packaging" / "lock_check.py"
    spec = importlib.util.spec_from_file_location("lock_check", checker)
    assert spec is not None and spec.loader is not None
    lock_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lock_check)
    lock = lock_file(root)
    pins = lock_check.pins(lock)
    found = [f"Python {platform.python_version()}"]
    for name in REPORTED:
        pinned = pins.get(lock_check.normal(name), "not pinned")
        found.append(f"{name.removesuffix('-Essentials')} {pinned}")
    problems = lock_check.differences(pins, lock_check.installed())
    state = "installed exactly" if not problems else f"NOT matched: {'; '.join(problems[:3])}"
    shown = lock.relative_to(root) if lock.is_relative_to(root) else lock
    return f"{', '.join(found)} (from {shown}, {state})"


def load_text() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def commit_text(root: Path) -> str:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
        return done.stdout.strip()

    head = git("rev-parse", "--short=12", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{head}{' + uncommitted changes' if dirty else ''}" if head else "unknown"


def run_info(command: str, root: Path, quick: bool) -> RunInfo:
    return RunInfo(
        date=time.strftime("%Y-%m-%d %H:%M %Z"),
        command=command,
        machine=machine_text(),
        versions=versions_text(root),
        commit=commit_text(root),
        load_before=load_text(),
        quick=quick,
    )


def render_part(part: PartResult) -> list[str]:
    lines = [f"### {part.title}", "", part.method, ""]
    if part.run is not None:
        lines += [f"From the run of {part.run.date}; this part took {part.seconds:.0f} s.", ""]
    for table in part.tables:
        lines += [*table.markdown(), ""]
    if part.targets:
        rows = [f"| {t.what} | {t.limit} | {t.value} | {t.verdict()} |" for t in part.targets]
        lines += ["| target | limit | this run | verdict |", "|---|---|---|---|", *rows, ""]
    for image in part.images:
        lines += [f"![{part.title}]({image})", ""]
    lines += [*(f"- {note}" for note in part.notes)]
    return lines if not part.notes else [*lines, ""]


def render_runs(runs: Iterable[RunInfo]) -> list[str]:
    lines: list[str] = []
    for run in dict.fromkeys(runs):
        quick = QUICK_WARNING if run.quick else ""
        lines += [
            f"- {run.date}: `{run.command}`{quick}",
            f"  - machine: {run.machine}; load average before: {run.load_before}",
            f"  - {run.versions}; commit {run.commit}",
        ]
    return lines


def render_summary(parts: list[PartResult]) -> list[str]:
    """Every target of every part in one table (the reasons stay in the parts' sections)."""
    rows = [
        f"| {p.title.split(' ', 1)[0].rstrip('.')} | {t.what} | {t.limit} | {t.value} | "
        f"{'met' if t.met else '**not met**'} |"
        for p in parts
        for t in p.targets
    ]
    if not rows:
        return []
    return ["| part | target | limit | this run | verdict |", "|---|---|---|---|---|", *rows, ""]


def render_block(
    parts: dict[str, PartResult], order: Iterable[str], json_name: str = "benchmarks.json"
) -> str:
    keyed = [parts[k] for k in order if k in parts]
    runs = [p.run for p in keyed if p.run is not None]
    lines = [
        BEGIN,
        "## The benchmark suite",
        "",
        "Written by `python -m benchmarks` (also `studio bench`); each part ran in its own "
        "process. Repeated runs are shown as `median (q1–q3)`, the interquartile range in "
        "brackets; every ratio compares runs of the same invocation, interleaved. Every "
        f"single run's numbers: `{json_name}`.",
        "",
        *render_runs(runs),
        "",
        *render_summary(keyed),
    ]
    for part in keyed:
        lines += render_part(part)
    lines.append(END)
    return "\n".join(lines)


def replace_block(document: str, block: str) -> str:
    """`document` with its suite block replaced by `block` (inserted after the title if none)."""
    starts = document.count(BEGIN_PREFIX)
    ends = document.count(END)
    if starts != ends or starts > 1:
        raise ReportError(
            f"The report has {starts} suite begin and {ends} end markers; fix it by hand so "
            "that it has one pair (or none), then run the suite again."
        )
    if starts == 1:
        head, rest = document.split(BEGIN_PREFIX, 1)
        if END not in rest:
            raise ReportError("The report's suite end marker comes before its begin marker.")
        tail = rest.split(END, 1)[1]
        return head + block + tail
    lines = document.splitlines(keepends=True)
    at = next((i + 1 for i, line in enumerate(lines) if line.startswith("# ")), 0)
    return "".join(lines[:at]) + "\n" + block + "\n\n" + "".join(lines[at:])


def read_parts(json_path: Path) -> dict[str, PartResult]:
    """The parts kept in the raw JSON from earlier runs (none when it is absent or unreadable)."""
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return {}
    return {k: PartResult.from_json(v) for k, v in data.get("parts", {}).items()}


def write_report(
    out: Path, json_path: Path, parts: dict[str, PartResult], order: Iterable[str]
) -> None:
    """Merge `parts` into the kept ones, then rewrite the JSON and the report's block."""
    order = list(order)
    merged = read_parts(json_path) | parts
    document = out.read_text(encoding="utf-8") if out.exists() else "# Benchmarks\n"
    json_name = os.path.relpath(json_path, out.parent)
    updated = replace_block(document, render_block(merged, order, json_name))
    payload: dict[str, Any] = {
        "schema": SCHEMA,
        "parts": {k: merged[k].as_json() for k in order if k in merged},
    }
    atomic_write_text(json_path, json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
    atomic_write_text(out, updated)
