"""`python -m benchmarks`: run the benchmark suite and rewrite its block of docs/BENCHMARKS.md.

Each part runs in a fresh child process (its own imports, heap and Qt application), writes its
result as JSON, and the parent merges the results into docs/benchmarks.json and the marked
block of the report (a partial run with --only keeps the other parts' last results). Parts:
overhead, responsiveness, startup, pair, memory, switches; `--gpu` adds the GPU part (refused
without CUDA). About 10 minutes on an idle 2-core CPU.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.options import PartOptions
from benchmarks.report import ReportError, run_info, write_report
from benchmarks.results import PartResult

ROOT = Path(__file__).resolve().parents[1]
PARTS = {
    "overhead": "benchmarks.suite_overhead:run",
    "responsiveness": "benchmarks.suite_responsiveness:run",
    "startup": "benchmarks.suite_startup:run",
    "pair": "benchmarks.pair_quality:run",
    "memory": "benchmarks.suite_memory:generations",
    "switches": "benchmarks.suite_memory:switches",
    "gpu": "benchmarks.gpu:run",
    "remote": "benchmarks.suite_remote:run",
}
BUSY_PERCENT = 25.0
CPU_PARTS = ("overhead", "responsiveness", "startup", "pair", "memory", "switches")
NO_CUDA = (
    "The GPU part needs a CUDA device and torch sees none (torch.cuda.is_available() is False): "
    "run `python -m benchmarks --gpu` on a machine with an NVIDIA GPU and a CUDA build of torch, "
    "or leave out --gpu."
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny repeat counts (for tests)")
    parser.add_argument("--only", default="", help=f"comma-separated parts of {', '.join(PARTS)}")
    parser.add_argument("--gpu", action="store_true", help="add the GPU part (needs CUDA)")
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "docs" / "BENCHMARKS.md",
        help="the report whose suite block is rewritten (default: docs/BENCHMARKS.md)",
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="the raw results (default: benchmarks.json by it)"
    )
    parser.add_argument("--gpu-device", default="cuda", help=argparse.SUPPRESS)
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--child-options", default="", help=argparse.SUPPRESS)
    parser.add_argument("--child-result", type=Path, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def chosen_parts(args: argparse.Namespace) -> list[str]:
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(CPU_PARTS)
    unknown = [n for n in names if n not in PARTS]
    if unknown:
        raise SystemExit(
            f"python -m benchmarks: unknown part {', '.join(unknown)}; "
            f"choose from {', '.join(PARTS)}."
        )
    if args.gpu and "gpu" not in names:
        names.append("gpu")
    return [n for n in PARTS if n in names]


def gpu_refusal(args: argparse.Namespace, parts: list[str]) -> str:
    if "gpu" not in parts or not args.gpu_device.startswith("cuda"):
        return ""
    import torch

    return "" if torch.cuda.is_available() else NO_CUDA


def run_child(key: str, options: PartOptions, result: Path) -> int:
    """In the child process: run one part and write its result."""
    module, function = PARTS[key].split(":")
    started = time.perf_counter()
    part: PartResult = getattr(importlib.import_module(module), function)(options)
    part = replace(part, seconds=time.perf_counter() - started)
    result.write_text(json.dumps(part.as_json()), encoding="utf-8")
    return 0


def busy_note() -> str:
    """A note when other processes keep the CPU busy as a part starts (the suite itself idles
    then: its previous part has exited)."""
    import psutil

    busy = psutil.cpu_percent(interval=1.0)
    if busy < BUSY_PERCENT:
        return ""
    return (
        f"The machine was busy as this part began ({busy:.0f}% of its {os.cpu_count()} cores "
        "used by other processes over one second): its times are inflated; run the suite on "
        "an idle machine for numbers to keep."
    )


def spawn_part(key: str, options: PartOptions) -> PartResult:
    """Run one part in a fresh process; a failed part comes back as a result saying so."""
    with tempfile.TemporaryDirectory(prefix="studio-suite-") as tmp:
        result = Path(tmp) / "result.json"
        command = [sys.executable, "-m", "benchmarks", "--child", key]
        command += ["--child-options", options.to_json(), "--child-result", str(result)]
        env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
        started, busy = time.perf_counter(), busy_note()
        done = subprocess.run(command, cwd=ROOT, env=env, check=False)
        if done.returncode == 0 and result.exists():
            part = PartResult.from_json(json.loads(result.read_text(encoding="utf-8")))
            return replace(part, notes=(*part.notes, busy)) if busy else part
    return PartResult(
        key=key,
        title=f"Part {key}: failed",
        method=(
            f"The part exited with status {done.returncode} without a result; its error is in "
            "the suite's output (standard error)."
        ),
        raw={"failed": True, "returncode": done.returncode},
        seconds=time.perf_counter() - started,
    )


def command_text(argv: list[str] | None) -> str:
    words = sys.argv[1:] if argv is None else argv
    return shlex.join(["python", "-m", "benchmarks", *words])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = PartOptions(
        quick=args.quick,
        image_dir=str(args.out.resolve().parent),
        gpu_device=args.gpu_device,
        tiny=args.tiny,
    )
    if args.child:
        return run_child(args.child, PartOptions.from_json(args.child_options), args.child_result)
    parts = chosen_parts(args)
    refusal = gpu_refusal(args, parts)
    if refusal:
        print(f"python -m benchmarks: {refusal}", file=sys.stderr)
        return 2
    json_path = args.json or args.out.resolve().parent / "benchmarks.json"
    info = run_info(command_text(argv), ROOT, args.quick)
    results: dict[str, PartResult] = {}
    for key in parts:
        print(f"== {key} ==", file=sys.stderr, flush=True)
        results[key] = replace(spawn_part(key, options), run=info)
        try:
            write_report(args.out, json_path, results, PARTS)
        except ReportError as exc:
            print(f"python -m benchmarks: {exc}", file=sys.stderr)
            return 2
    print(f"Wrote {args.out} and {json_path}.", file=sys.stderr)
    return 1 if any(r.raw.get("failed") for r in results.values()) else 0
