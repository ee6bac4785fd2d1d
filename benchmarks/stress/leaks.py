"""Memory over many generations: the process's RSS after each one, flat after warm-up?

Runs N comparisons (the embedded pair: emoji-teacher DDIM trailing 4 steps CFG 3, and
emoji-student-4step DDIM trailing 4 steps CFG 1, 32x32, a preview every step) one after another
through the real EngineHost (the default runner: model cache, PipelineLoader) and the real
SessionViewModel, which saves every image as a PNG in a temporary gallery. Every
`--cancel-every`th extra job is cancelled from the queue at a random step (the exception path),
and does not count as a generation. RSS is read after each generation; after `--warmup` of
them, a least-squares line through the rest gives the slope (MB per generation) and the growth
(the last sample minus the first after warm-up). A census of live Python objects by type
(after a full collection) at the end of warm-up and at the end names whatever grew.
Targets: growth < 100 MB and slope < 1 MB per generation. Exits 1 when missed.

Run: `python -m benchmarks.stress.leaks [--generations 200] [--warmup 20] [--cancel-every 10]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import psutil

from benchmarks.common import machine
from studio.app import make_application
from studio.core.events import FINAL_EVENTS, Event, StepProgress
from studio.core.gallery import GalleryStore
from studio.core.jobs import CompareJob, Job, LaneSpec, PreviewOptions
from studio.core.models import EMBEDDED_STUDENT, EMBEDDED_TEACHER, ModelRef
from studio.core.params import MAX_SEED, GenerationParams
from studio.viewmodels.session import SessionViewModel
from studio.worker.host import EngineHost, default_runner_factory

MB = 1024 * 1024
GROWTH_LIMIT_MB = 100.0
SLOPE_LIMIT_MB = 1.0
PROMPTS = (
    "grinning face",
    "red heart, smileys & emotion, heart, noto style",
    "cat face, animals & nature",
    "rocket, travel & places, twemoji style",
    "pizza",
)


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / MB


@dataclass(frozen=True, slots=True)
class Fit:
    """RSS after warm-up: the least-squares slope and the growth from first to last sample."""

    slope_mb: float
    growth_mb: float
    first_mb: float
    last_mb: float
    peak_mb: float

    @property
    def flat(self) -> bool:
        return self.growth_mb < GROWTH_LIMIT_MB and self.slope_mb < SLOPE_LIMIT_MB


def fit(samples: list[float], warmup: int) -> Fit:
    """Fit samples[warmup:] (one per generation) by least squares against their index."""
    ys = samples[warmup:]
    if len(ys) < 2:
        raise ValueError("need at least two samples after warm-up")
    xs = range(len(ys))
    mean_x, mean_y = (len(ys) - 1) / 2, sum(ys) / len(ys)
    cov = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    var = sum((x - mean_x) ** 2 for x in xs)
    return Fit(cov / var, ys[-1] - ys[0], ys[0], ys[-1], max(ys))


def census() -> Counter[str]:
    """Live objects by type name, after a full collection: those the collector tracks and
    those they refer to (numpy arrays, for one, are not tracked themselves)."""
    gc.collect()
    tracked = gc.get_objects()
    seen = {id(o): o for o in tracked}
    for obj in tracked:
        for ref in gc.get_referents(obj):
            seen.setdefault(id(ref), ref)
    return Counter(type(o).__name__ for o in seen.values())


def grown(before: Counter[str], after: Counter[str], top: int = 8) -> list[tuple[str, int]]:
    changes = ((name, after[name] - before[name]) for name in set(before) | set(after))
    return sorted((c for c in changes if c[1] > 0), key=lambda c: -c[1])[:top]


class Generations:
    """Feeds jobs one at a time to a session over a host and samples RSS after each one;
    cancels every `cancel_every`th extra job at a random step of its first half (a cancel sent
    from the last steps' progress can arrive after the worker finished the job)."""

    def __init__(
        self,
        host: Any,
        session: SessionViewModel,
        make_job: Callable[[int], Job],
        *,
        cancel_every: int = 0,
        rng: random.Random | None = None,
    ) -> None:
        self.host, self.session, self.make_job = host, session, make_job
        self.cancel_every = cancel_every
        self.rng = rng or random.Random(0)
        self.samples: list[float] = []
        self.finals: Counter[str] = Counter()
        self.cancelled = 0
        self._cancel_at: dict[str, int] = {}
        self._done: set[str] = set()
        self._submitted = 0

    async def consume(self) -> None:
        async for event in self.host.listen():
            self.session.handle(event)
            self._react(event)

    def _react(self, event: Event) -> None:
        if isinstance(event, FINAL_EVENTS):
            self.finals[type(event).__name__] += 1
            self._done.add(event.job_id)
        elif isinstance(event, StepProgress) and self._cancel_at.get(event.job_id) == event.step:
            self.session.queue.cancel(event.job_id)

    async def run(self, count: int, on_sample: Callable[[int], None] | None = None) -> None:
        """Run until `count` more generations finished, sampling RSS after each."""
        finished = 0
        while finished < count:
            job = self.make_job(self._submitted)
            self._submitted += 1
            cancel = self.cancel_every and self._submitted % self.cancel_every == 0
            if cancel:
                steps = job.lanes[0][1].params.num_inference_steps
                self._cancel_at[job.job_id] = self.rng.randint(1, max(1, steps // 2))
            self.session.submit(job)
            while job.job_id not in self._done or self.session.busy:
                await asyncio.sleep(0.002)
            if cancel:
                self.cancelled += 1
                continue
            finished += 1
            if on_sample is not None:
                on_sample(len(self.samples))
            self.samples.append(rss_mb())


def pair_job(rng: random.Random, teacher_steps: int, student_steps: int) -> Callable[[int], Job]:
    def make(index: int) -> Job:
        base = GenerationParams(
            prompt=PROMPTS[index % len(PROMPTS)],
            sampler="DDIM trailing",
            seed=rng.randint(0, MAX_SEED),
            width=32,
            height=32,
        )
        teacher = base.with_(num_inference_steps=teacher_steps, guidance_scale=3.0)
        student = base.with_(num_inference_steps=student_steps, guidance_scale=1.0)
        return CompareJob(
            teacher=LaneSpec(model=ModelRef.embedded(EMBEDDED_TEACHER), params=teacher),
            student=LaneSpec(model=ModelRef.embedded(EMBEDDED_STUDENT), params=student),
            previews=PreviewOptions(every=1),
        )

    return make


async def measure(args: argparse.Namespace, gallery: Path) -> tuple[Generations, dict[str, Any]]:
    rng = random.Random(args.rng)
    host = EngineHost(runner_factory=default_runner_factory)
    session = SessionViewModel(host, GalleryStore(gallery))
    job = pair_job(rng, args.teacher_steps, args.student_steps)
    gens = Generations(host, session, job, cancel_every=args.cancel_every, rng=rng)
    consumer = asyncio.ensure_future(gens.consume())
    facts: dict[str, Any] = {"start_mb": rss_mb()}

    def at_warmup_end(index: int) -> None:
        if index == args.warmup:
            facts["census_warm"] = census()

    started = time.perf_counter()
    await gens.run(args.generations, at_warmup_end)
    facts["elapsed_s"] = time.perf_counter() - started
    facts["census_end"] = census()
    facts["files"] = len(list(gallery.glob("*.png")))
    host.close()
    await asyncio.wait_for(consumer, 30)
    return gens, facts


def report(args: argparse.Namespace, gens: Generations, facts: dict[str, Any]) -> Fit:
    result = fit(gens.samples, args.warmup)
    n = len(gens.samples)
    print(
        f"{n} generations (comparisons: teacher {args.teacher_steps} steps CFG 3 + student "
        f"{args.student_steps} steps, 32x32, previews every step) and {gens.cancelled} cancelled "
        f"jobs in {facts['elapsed_s']:.0f} s; {facts['files']} PNGs saved; finals "
        f"{dict(gens.finals)}"
    )
    print(
        f"RSS: {facts['start_mb']:.0f} MB before the engine, {gens.samples[0]:.0f} MB after the "
        f"first generation, {result.first_mb:.0f} MB after warm-up ({args.warmup}), "
        f"{result.last_mb:.0f} MB at the end, peak after warm-up {result.peak_mb:.0f} MB"
    )
    print(
        f"after warm-up: growth {result.growth_mb:+.1f} MB (limit {GROWTH_LIMIT_MB:.0f}), "
        f"slope {result.slope_mb:+.3f} MB per generation (limit {SLOPE_LIMIT_MB:.0f}) -> "
        f"{'flat' if result.flat else 'NOT FLAT'}"
    )
    warm, end = facts.get("census_warm", Counter()), facts["census_end"]
    print(
        f"live Python objects: {sum(warm.values())} after warm-up, {sum(end.values())} at the end"
    )
    print(f"types that grew: {grown(warm, end) or 'none'}")
    print(f"samples (MB, every 10th): {[round(s) for s in gens.samples[::10]]}")
    print(machine())
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--cancel-every", type=int, default=10)
    parser.add_argument("--teacher-steps", type=int, default=4)
    parser.add_argument("--student-steps", type=int, default=4)
    parser.add_argument("--rng", type=int, default=2026)
    args = parser.parse_args()
    make_application()
    with tempfile.TemporaryDirectory() as tmp:
        gens, facts = asyncio.run(measure(args, Path(tmp) / "gallery"))
    return 0 if report(args, gens, facts).flat else 1


if __name__ == "__main__":
    sys.exit(main())
