"""Speed-up at equal quality: the teacher's time to reach a student's quality, over the student's.

The teacher's measured points (time, quality) form a curve; its upper envelope (the best
quality reached for at most that time) is interpolated linearly in log time. A student whose
quality the teacher's cheapest point already reaches gets an upper bound (`≤`); one above the
teacher's best measured point gets a lower bound (`≥`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Point:
    """One model and step count: its time per image and its quality."""

    model: str
    steps: int
    seconds: float
    accuracy: float
    psnr: float | None = None
    ssim: float | None = None
    reference: bool = False

    def quality(self, metric: str) -> float | None:
        value = getattr(self, metric)
        return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True, slots=True)
class Speedup:
    """The teacher's time over the student's at the student's quality; `bound` is "", "≤" or
    "≥" when the teacher's curve does not reach across the student's quality."""

    ratio: float
    bound: str = ""

    def text(self) -> str:
        return f"{self.bound}{self.ratio:.1f}x".strip()


def envelope(teacher: list[Point], metric: str) -> list[tuple[float, float]]:
    """(seconds, best quality so far) along increasing time, one point per quality gain."""
    curve: list[tuple[float, float]] = []
    for p in sorted(teacher, key=lambda p: p.seconds):
        q = p.quality(metric)
        if q is not None and (not curve or q > curve[-1][1]):
            curve.append((p.seconds, q))
    return curve


def teacher_seconds_at(quality: float, curve: list[tuple[float, float]]) -> tuple[float, str]:
    if quality <= curve[0][1]:
        return curve[0][0], "≤"
    if quality > curve[-1][1]:
        return curve[-1][0], "≥"
    for (t0, q0), (t1, q1) in itertools.pairwise(curve):
        if q0 < quality <= q1:
            f = (quality - q0) / (q1 - q0)
            return math.exp(math.log(t0) + f * (math.log(t1) - math.log(t0))), ""
    raise AssertionError("the envelope is increasing")


def speedup(student: Point, teacher: list[Point], metric: str) -> Speedup | None:
    quality = student.quality(metric)
    curve = envelope(teacher, metric)
    if quality is None or not curve or student.seconds <= 0:
        return None
    seconds, bound = teacher_seconds_at(quality, curve)
    return Speedup(seconds / student.seconds, bound)


def equal_quality(student: Point, teacher: list[Point], metric: str) -> str:
    found = speedup(student, teacher, metric)
    return "–" if found is None else found.text()
