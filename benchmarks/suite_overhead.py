"""Suite part 1: the studio's engine and worker against a bare `pipe(...)`, same everything.

Uses benchmarks.engine_overhead: every variant runs on the engine thread, timed from submit to
the final event, variants interleaved round by round. The ratio of each round's engine run to
that round's bare run gives the ratio's spread. For the teacher recipe the same jobs also run
through the engine process, interleaved with the thread's: the engine against a bare
`pipe(...)` both in the child, and the process's submit → image against the thread's.
"""

from __future__ import annotations

from benchmarks.common import Sample
from benchmarks.engine_overhead import PROCESS, Case, base_of, cases, measure
from benchmarks.options import PartOptions
from benchmarks.results import PartResult, Stat, Table, Target, within_spread
from studio.worker.host import default_runner_factory, judged_runner

TEACHER = "emoji-teacher"

BARE = "bare pipe(...)"
LIMITS = {
    "engine, previews off": 1.02,
    "engine, previews every step": 1.10,
    PROCESS + "engine, previews off": 1.02,
}
E2E_LIMIT = 1.05
E2E = ("engine, previews off", "engine, previews every step")
"""The thread engine's variants whose process twins are timed against them, submit → image."""
REPEATS, QUICK_REPEATS = 9, 2


def paired(samples: dict[str, Sample], name: str, base: str) -> Stat:
    return Stat.of(t / b for t, b in zip(samples[name].seconds, samples[base].seconds, strict=True))


def paired_ratios(samples: dict[str, Sample]) -> dict[str, Stat]:
    return {name: paired(samples, name, base_of(name)) for name in samples}


def case_rows(case: Case, samples: dict[str, Sample]) -> list[tuple[str, ...]]:
    ratios = paired_ratios(samples)
    rows = []
    for i, (name, sample) in enumerate(samples.items()):
        base = samples[base_of(name)].median
        stat = Stat.of(sample.seconds)
        limit = LIMITS.get(name)
        rows.append(
            (
                case.label if i == 0 else "",
                name,
                stat.text(4),
                f"{stat.median / base:.3f}",
                ratios[name].text(3),
                f"≤ {limit}" if limit else "",
            )
        )
    return rows


def case_targets(case: Case, samples: dict[str, Sample]) -> list[Target]:
    spreads = [Stat.of(s.seconds).relative_spread for s in samples.values()]
    found = []
    for name, limit in LIMITS.items():
        if name not in samples:
            continue
        ratio = samples[name].median / samples[base_of(name)].median
        found.append(
            Target(
                what=f"{case.label}: {name}, ratio to bare",
                limit=f"≤ {limit}",
                value=f"{ratio:.3f}",
                met=ratio <= limit,
                reason=""
                if ratio <= limit
                else within_spread(ratio, limit, spreads, len(samples[BARE].seconds)),
            )
        )
    return found


def e2e_rows(case: Case, samples: dict[str, Sample]) -> list[tuple[str, ...]]:
    rows = []
    for name in E2E:
        thread, process = Stat.of(samples[name].seconds), Stat.of(samples[PROCESS + name].seconds)
        rows.append(
            (
                f"{case.label}, {name}",
                thread.text(4),
                process.text(4),
                f"{process.median / thread.median:.3f}",
                paired(samples, PROCESS + name, name).text(3),
                f"≤ {E2E_LIMIT}",
            )
        )
    return rows


def e2e_targets(case: Case, samples: dict[str, Sample]) -> list[Target]:
    found = []
    for name in E2E:
        thread, process = samples[name], samples[PROCESS + name]
        ratio = process.median / thread.median
        spreads = [Stat.of(s.seconds).relative_spread for s in (thread, process)]
        found.append(
            Target(
                what=f"{case.label}: submit → image through the engine process ({name}), "
                "ratio to the thread engine",
                limit=f"≤ {E2E_LIMIT}",
                value=f"{ratio:.3f}",
                met=ratio <= E2E_LIMIT,
                reason=""
                if ratio <= E2E_LIMIT
                else within_spread(ratio, E2E_LIMIT, spreads, len(thread.seconds)),
            )
        )
    return found


def overhead_result(
    key: str, title: str, method: str, measured: list[tuple[Case, dict[str, Sample]]]
) -> PartResult:
    rows: list[tuple[str, ...]] = []
    e2e: list[tuple[str, ...]] = []
    targets: list[Target] = []
    for case, samples in measured:
        rows += case_rows(case, samples)
        targets += case_targets(case, samples)
        if PROCESS + E2E[0] in samples:
            e2e += e2e_rows(case, samples)
            targets += e2e_targets(case, samples)
    table = Table(
        columns=(
            "model",
            "variant",
            "median s (IQR)",
            "ratio of medians",
            "per-round ratio to bare (IQR)",
            "target",
        ),
        rows=tuple(rows),
    )
    tables = (table,)
    if e2e:
        e2e_table = Table(
            columns=(
                "job (submit → final event in the window's process)",
                "thread engine, median s (IQR)",
                "engine process, median s (IQR)",
                "ratio of medians",
                "per-round ratio (IQR)",
                "target",
            ),
            rows=tuple(e2e),
        )
        tables = (table, e2e_table)
    raw = {
        case.label: {name: list(s.seconds) for name, s in samples.items()}
        for case, samples in measured
    }
    return PartResult(
        key=key, title=title, method=method, tables=tables, targets=tuple(targets), raw=raw
    )


def run(options: PartOptions) -> PartResult:
    repeats = QUICK_REPEATS if options.quick else REPEATS
    warmup = 0 if options.quick else 1
    measured = []
    for i, case in enumerate(cases()):
        process = i == 0 and case.ref.location == TEACHER
        factory = judged_runner if process else default_runner_factory
        measured.append((case, measure(case, repeats, factory, warmup, process=process)))
    method = (
        "The studio's engine (EngineHost, Runner, StepObserver) against a bare `pipe(...)` with "
        "the same components, sampler, steps, seed and starting noise, all on the engine's "
        "thread, timed from submit to the final event; previews off, every 4th step and every "
        f"step; {repeats} interleaved rounds after {warmup} warm-up round. "
        "Models: the embedded emoji teacher and a tiny random SD pipeline (tests/engine/tiny.py). "
        "The teacher's rounds also run the `process:` variants, interleaved with the thread's: "
        "a `ProcessEngine` (the window's engine) with the child's `benchmark` runner "
        "(studio/worker/bench_runner.py: the default judged runner, which also runs a job whose "
        "id starts with `bare-` as a bare `pipe(...)` call), so the bare call and the engine's "
        "jobs both run in the child and are timed alike, from `send(Submit)` to the final event "
        "in this process (the image crossed the pipe); the thread engine then runs the same "
        "judged runner. The engine process against bare diffusers compares the two child "
        "variants; submit → image through the process compares each process variant with "
        "the thread engine's same job, round by round."
    )
    return overhead_result("overhead", "1. Overhead against bare diffusers", method, measured)
