"""The suite's result types: statistics of repeated runs, targets, tables, one part's result.

Plain frozen dataclasses that round-trip through JSON (a part runs in a child process and
hands its result back as a file; docs/benchmarks.json keeps them all).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Stat:
    """Median and spread of repeated measurements of one quantity."""

    n: int
    median: float
    q1: float
    q3: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Stat:
        data = sorted(float(v) for v in values)
        if not data:
            raise ValueError("a statistic needs at least one value")
        q1 = q3 = data[0]
        if len(data) > 1:
            q1, _, q3 = statistics.quantiles(data, n=4, method="inclusive")
        return cls(
            n=len(data),
            median=statistics.median(data),
            q1=q1,
            q3=q3,
            low=data[0],
            high=data[-1],
        )

    @property
    def relative_spread(self) -> float:
        """Half the interquartile range over the median."""
        return (self.q3 - self.q1) / 2 / self.median if self.median else 0.0

    def text(self, digits: int = 3) -> str:
        """`median (q1–q3)`, the interquartile range in brackets; a single value alone."""
        f = f"{{:.{digits}f}}"
        if self.n == 1:
            return f.format(self.median)
        return f"{f.format(self.median)} ({f.format(self.q1)}–{f.format(self.q3)})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One target of the issue and whether this run met it; when not, the gap and its reason."""

    what: str
    limit: str
    value: str
    met: bool
    reason: str = ""

    def verdict(self) -> str:
        if self.met:
            return "met"
        return f"**not met**: {self.reason}" if self.reason else "**not met**"


@dataclass(frozen=True, slots=True, kw_only=True)
class Table:
    """A rendered table: column titles and rows of cell texts."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def markdown(self) -> list[str]:
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return lines


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInfo:
    """Where, when and how a part was measured."""

    date: str
    command: str
    machine: str
    versions: str
    commit: str
    load_before: str
    quick: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PartResult:
    """What one part of the suite measured: its method, tables, targets and raw numbers."""

    key: str
    title: str
    method: str
    tables: tuple[Table, ...] = ()
    targets: tuple[Target, ...] = ()
    notes: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    run: RunInfo | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartResult:
        tables = tuple(
            Table(columns=tuple(t["columns"]), rows=tuple(tuple(r) for r in t["rows"]))
            for t in data.get("tables", ())
        )
        targets = tuple(Target(**t) for t in data.get("targets", ()))
        run = data.get("run")
        return cls(
            key=data["key"],
            title=data["title"],
            method=data["method"],
            tables=tables,
            targets=targets,
            notes=tuple(data.get("notes", ())),
            images=tuple(data.get("images", ())),
            raw=dict(data.get("raw", {})),
            seconds=float(data.get("seconds", 0.0)),
            run=RunInfo(**run) if run else None,
        )


def within_spread(ratio: float, limit: float, spreads: Sequence[float], rounds: int) -> str:
    """The reason text for a ratio on the wrong side of its limit (over a ceiling, under a
    floor): is the gap inside the run-to-run noise?"""
    gap = ratio - limit
    side = "over" if gap > 0 else "under"
    if rounds < 3:
        return f"{gap:+.3f} {side} in only {rounds} round(s), too few to tell noise from overhead"
    noise = max(spreads, default=0.0)
    if abs(gap) <= noise * limit:
        return (
            f"{gap:+.3f} {side}, inside the run-to-run spread (±{noise:.1%}), so not "
            "distinguishable from noise in this run"
        )
    return f"{gap:+.3f} {side}, more than the run-to-run spread (±{noise:.1%})"
