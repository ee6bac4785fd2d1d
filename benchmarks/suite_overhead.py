"""Suite part 1: the studio's engine and worker against a bare `pipe(...)`, same everything.

Uses benchmarks.engine_overhead: every variant runs on the engine thread, timed from submit to
the final event, variants interleaved round by round. The ratio of each round's engine run to
that round's bare run gives the ratio's spread.
"""

from __future__ import annotations

from benchmarks.common import Sample
from benchmarks.engine_overhead import Case, cases, measure
from benchmarks.options import PartOptions
from benchmarks.results import PartResult, Stat, Table, Target, within_spread

BARE = "bare pipe(...)"
LIMITS = {"engine, previews off": 1.02, "engine, previews every step": 1.10}
REPEATS, QUICK_REPEATS = 9, 2


def paired_ratios(samples: dict[str, Sample]) -> dict[str, Stat]:
    bare = samples[BARE].seconds
    return {
        name: Stat.of(t / b for t, b in zip(s.seconds, bare, strict=True))
        for name, s in samples.items()
    }


def case_rows(case: Case, samples: dict[str, Sample]) -> list[tuple[str, ...]]:
    ratios = paired_ratios(samples)
    base = samples[BARE].median
    rows = []
    for i, (name, sample) in enumerate(samples.items()):
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
    base = samples[BARE].median
    spreads = [Stat.of(s.seconds).relative_spread for s in samples.values()]
    found = []
    for name, limit in LIMITS.items():
        ratio = samples[name].median / base
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


def overhead_result(
    key: str, title: str, method: str, measured: list[tuple[Case, dict[str, Sample]]]
) -> PartResult:
    rows: list[tuple[str, ...]] = []
    targets: list[Target] = []
    for case, samples in measured:
        rows += case_rows(case, samples)
        targets += case_targets(case, samples)
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
    raw = {
        case.label: {name: list(s.seconds) for name, s in samples.items()}
        for case, samples in measured
    }
    return PartResult(
        key=key, title=title, method=method, tables=(table,), targets=tuple(targets), raw=raw
    )


def run(options: PartOptions) -> PartResult:
    repeats = QUICK_REPEATS if options.quick else REPEATS
    warmup = 0 if options.quick else 1
    measured = [(case, measure(case, repeats, warmup=warmup)) for case in cases()]
    method = (
        "The studio's engine (EngineHost, Runner, StepObserver) against a bare `pipe(...)` with "
        "the same components, sampler, steps, seed and starting noise, all on the engine's "
        "thread, timed from submit to the final event; previews off, every 4th step and every "
        f"step; {repeats} interleaved rounds after {warmup} warm-up round. "
        "Models: the embedded emoji teacher and a tiny random SD pipeline (tests/engine/tiny.py)."
    )
    return overhead_result("overhead", "1. Overhead against bare diffusers", method, measured)
