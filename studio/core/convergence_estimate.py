"""How much a convergence run will cost before it is queued: runs, model evaluations, time.

The runs are what the engine's convergence runner queues: one reference per prompt/seed case,
then every sampler at every step count it can take, on every case. The time is the number of
denoiser evaluations (NFE) times a time per evaluation: the teacher lane's last measured pace
when the session has one, else `ROUGH_SECONDS_PER_EVALUATION`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from studio.core.convergence import ConvergenceSpec
from studio.core.samplers import SAMPLERS, ModelKind, find_sampler

# The embedded teacher at its default 32x32, CFG 3, on the 2-core development CPU: DDIM at 64
# steps took 4.52 s per case (docs/convergence-emoji-teacher.csv), about 0.07 s per evaluation.
# A GPU is many times faster; a larger model at 512x512 on a CPU many times slower.
ROUGH_SECONDS_PER_EVALUATION = 0.07
CONFIRM_ABOVE_S = 120.0
CONFIRM_ABOVE_RUNS = 50
TWO_EVALUATIONS_PER_STEP = frozenset({"Heun", "DPM2", "Flow Heun"})


def evaluations(sampler: str, steps: int) -> int:
    """The denoiser calls `sampler` makes for `steps` steps: Heun-type samplers two per step
    less one, PNDM one more to start, the others one per step."""
    spec = find_sampler(sampler)
    name = spec.name if spec is not None else sampler
    if name in TWO_EVALUATIONS_PER_STEP:
        return max(1, 2 * steps - 1)
    if name == "PNDM":
        return steps + 1
    return steps


def default_samplers(kind: ModelKind = ModelKind.vp) -> tuple[str, ...]:
    """The samplers an empty list stands for, at most: the deterministic ones of `kind` that
    train nothing per step count (the engine may leave out more that do not fit the model)."""
    return tuple(
        s.name for s in SAMPLERS if not s.stochastic and not s.needs_predictor and kind in s.kinds
    )


def takes(sampler: str, steps: int) -> bool:
    spec = find_sampler(sampler)
    return spec is None or steps >= spec.min_steps


@dataclass(frozen=True, slots=True, kw_only=True)
class ConvergenceEstimate:
    """What one convergence run costs: its runs, its evaluations and about how long it takes.

    `upper_bound`: the samplers were left to the engine, which may leave out some that do not
    fit the model, or a student may take fewer step counts (a shortcut model: powers of two),
    so `runs` is at most that many. `measured`: the time per evaluation comes
    from the session's last run rather than the rough constant.
    """

    runs: int
    cases: int
    samplers: int
    students: int
    step_counts: int
    reference_steps: int
    evaluations: int
    seconds_per_evaluation: float
    measured: bool
    upper_bound: bool

    @property
    def seconds(self) -> float:
        return self.evaluations * self.seconds_per_evaluation

    @property
    def needs_confirmation(self) -> bool:
        return self.seconds > CONFIRM_ABOVE_S or self.runs > CONFIRM_ABOVE_RUNS

    def runs_text(self) -> str:
        """E.g. "up to 182 runs: 2 references of 1000 steps, then 15 samplers × 6 step counts
        × 2 cases"."""
        count = f"{'up to ' if self.upper_bound else ''}{self.runs} runs"
        references = _plural(self.cases, "reference")
        return (
            f"{count}: {references} of {self.reference_steps} steps, then "
            f"{_plural(self.samplers, 'sampler')} × {_plural(self.step_counts, 'step count')}"
            f" × {_plural(self.cases, 'case')}"
            + (f", and {_plural(self.students, 'student')} beside them" if self.students else "")
        )

    def time_text(self) -> str:
        """E.g. "about 6 min (5,414 model evaluations × 0.07 s, a rough figure for the embedded
        model on a CPU)"."""
        pace = (
            "measured on the teacher's last run"
            if self.measured
            else "a rough figure for the embedded model on a CPU"
        )
        return (
            f"about {duration_text(self.seconds)} ({self.evaluations:,} model evaluations × "
            f"{self.seconds_per_evaluation:.3g} s, {pace})"
        )

    def text(self) -> str:
        return f"Queues {self.runs_text()} · {self.time_text()}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def duration_text(seconds: float) -> str:
    """ "40 s", "6 min", "1 h 25 min"."""
    if not math.isfinite(seconds) or seconds < 0:
        return "an unknown time"
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def estimate_convergence(
    spec: ConvergenceSpec,
    cases: int,
    seconds_per_evaluation: float | None = None,
) -> ConvergenceEstimate:
    """The runs and time of `spec` over `cases` prompt/seed cases; the rough constant stands in
    for `seconds_per_evaluation` when it is None or not a positive number."""
    samplers = spec.samplers or default_samplers()
    runs = [(name, n) for name in samplers for n in spec.steps if takes(name, n)]
    runs += [(s.sampler, n) for s in spec.students for n in spec.steps if takes(s.sampler, n)]
    per_case = evaluations(spec.reference_sampler, spec.reference_steps)
    per_case += sum(evaluations(name, n) for name, n in runs)
    pace = seconds_per_evaluation
    measured = pace is not None and math.isfinite(pace) and pace > 0
    return ConvergenceEstimate(
        runs=cases * (1 + len(runs)),
        cases=cases,
        samplers=len(samplers),
        students=len(spec.students),
        step_counts=len(spec.steps),
        reference_steps=spec.reference_steps,
        evaluations=cases * per_case,
        seconds_per_evaluation=float(pace) if measured and pace else ROUGH_SECONDS_PER_EVALUATION,
        measured=measured,
        upper_bound=not spec.samplers or bool(spec.students),
    )


def pace_of(step_s: Sequence[float]) -> float | None:
    """Seconds per denoiser evaluation from one lane's step times, or None without steps.

    The engine times each pass of the pipeline's loop, one denoiser call each (Heun-type
    samplers loop twice per step), so the median step is the time of one evaluation, without
    the first step's warm-up.
    """
    times = sorted(t for t in step_s if math.isfinite(t) and t > 0)
    return times[len(times) // 2] if times else None
