"""The input fuzzers at stress size: many random examples instead of the suite's few fixed ones.

Runs the hypothesis properties of the fast suite (PNG metadata reader, settings / recipe /
model-pair preset / manifest loaders, models-folder scanner, parameter limits and the
submission path) under the `stress` profile of tests/fuzzing.py (random seeds, not
derandomized), with `--examples` examples per property, and prints a table: property, examples
that passed / failed / were rejected as invalid, and seconds. Each example is still bounded by
the 5 s per-example limit of tests/fuzzing.py. Exits 1 when any property failed (hypothesis
prints the shrunk failing example and how to reproduce it).

Run: `python -m benchmarks.stress.fuzz_inputs [--examples 2000] [--only png,json]`.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUITES = {
    "png": "tests/core/test_fuzz_png.py",
    "json": "tests/core/test_fuzz_json_loaders.py",
    "library": "tests/core/test_fuzz_model_library.py",
    "submission": "tests/ui/test_fuzz_submission.py",
}
TEST_LINE = re.compile(r"^([\w/.]+\.py)::(\w+):\s*$")
# "20 passing examples, 0 failing examples, 3 invalid examples" (older hypothesis) or
# "20 passing, 0 failing, and 3 invalid test cases" (hypothesis 6.170).
COUNTS = re.compile(
    r"(\d+) passing(?: examples?)?, (\d+) failing(?: examples?)?,(?: and)? (\d+) invalid"
)


def run_suite(path: str, examples: int) -> tuple[str, float, int]:
    env = {**os.environ, "STUDIO_FUZZ": "stress", "STUDIO_FUZZ_EXAMPLES": str(examples)}
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", path]
    command += ["-k", "not each_hostile", "--hypothesis-show-statistics"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    return done.stdout + done.stderr, time.perf_counter() - start, done.returncode


def table(output: str) -> list[tuple[str, int, int, int]]:
    """(property, passing, failing, invalid) from hypothesis' statistics, generate phase."""
    rows: list[tuple[str, int, int, int]] = []
    current, generating = "", False
    for line in output.splitlines():
        if match := TEST_LINE.match(line.strip()):
            current, generating = match[2], False
        elif "during generate phase" in line:
            generating = True
        elif (counts := COUNTS.search(line)) and current and generating:
            rows.append((current, *(int(n) for n in counts.groups())))
            current = ""
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--only", default=",".join(SUITES))
    args = parser.parse_args(argv)
    failed = False
    print(f"{'property':<72} {'passed':>7} {'failed':>6} {'invalid':>7}")
    for name in args.only.split(","):
        output, seconds, code = run_suite(SUITES[name], args.examples)
        for prop, passed, failing, invalid in table(output):
            print(f"{prop:<72} {passed:>7} {failing:>6} {invalid:>7}")
        print(f"-- {SUITES[name]}: exit {code} in {seconds:.0f} s")
        if code:
            failed = True
            print(output[-6000:])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
