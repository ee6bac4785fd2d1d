"""Convergence curves: how close each deterministic sampler gets to a many-step reference.

For every sampler and step count, the image from the same prompt, seed and starting noise is
compared with a reference image made by `REFERENCE_SAMPLER` at `REFERENCE_STEPS` steps. The
x axis is the number of model evaluations (NFE): the calls the sampler made to the denoiser,
counted by the engine. Heun and DPM2 call it twice per step, PNDM once more at the start. With
classifier-free guidance each call evaluates the conditional and unconditional branch as one
batch of two; that is still counted as one evaluation, and `network_passes` doubles it.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, fields

from studio.core.models import ModelRef
from studio.core.params import MAX_SEED, MAX_STEPS, ValidationError
from studio.core.samplers import SAMPLERS, find_sampler

REFERENCE_SAMPLER = "DPM++ 2M"
REFERENCE_STEPS = 1000
DEFAULT_STEPS = (2, 4, 8, 16, 32, 64)
PSNR_CAP_DB = 60.0
MAX_SAMPLERS = 24
MAX_STEP_COUNTS = 12
MAX_CASES = 16
MAX_STUDENTS = 4


def deterministic_samplers() -> tuple[str, ...]:
    """The catalogue's samplers that add no noise while sampling (ODE solvers, DDIM)."""
    return tuple(s.name for s in SAMPLERS if not s.stochastic)


def capped_psnr(value: float) -> float:
    """PSNR in dB with identical images (inf) shown as the cap, so means stay finite."""
    return min(value, PSNR_CAP_DB) if not math.isnan(value) else value


@dataclass(frozen=True, slots=True, kw_only=True)
class StudentCurve:
    """Another model (a student of the job's model, sharing its latents) drawn beside the
    samplers: its sampler and CFG at each of the spec's step counts it takes, from the same
    starting noise, against the job's own references."""

    model: ModelRef
    sampler: str
    guidance: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ConvergenceSpec:
    """Which samplers and step counts to run, against which reference, over which cases.

    An empty `samplers` means every deterministic sampler that fits the model. The cases are
    every prompt with every seed; empty tuples mean the job's own prompt and seed. `students`
    run after the samplers, each at the step counts it takes.
    """

    samplers: tuple[str, ...] = ()
    steps: tuple[int, ...] = DEFAULT_STEPS
    reference_sampler: str = REFERENCE_SAMPLER
    reference_steps: int = REFERENCE_STEPS
    prompts: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()
    students: tuple[StudentCurve, ...] = ()

    def cases(self, prompt: str, seed: int) -> list[tuple[str, int]]:
        return [(p, s) for p in (self.prompts or (prompt,)) for s in (self.seeds or (seed,))]

    def problems(self) -> list[str]:
        """Why this spec cannot run, one sentence each."""
        found = [p for name in self.samplers for p in _sampler_problems(name)]
        found += _reference_problems(self.reference_sampler, self.reference_steps)
        found += _steps_problems(self.steps)
        if len(self.samplers) > MAX_SAMPLERS:
            found.append(f"Choose at most {MAX_SAMPLERS} samplers, not {len(self.samplers)}.")
        if len(set(self.samplers)) != len(self.samplers):
            found.append("A sampler is listed twice.")
        cases = max(1, len(self.prompts)) * max(1, len(self.seeds))
        if cases > MAX_CASES:
            found.append(f"There are {cases} prompt and seed cases: use at most {MAX_CASES}.")
        found += _students_problems(self.students)
        bad = [s for s in self.seeds if isinstance(s, bool) or not 0 <= s <= MAX_SEED]
        if bad:
            found.append(f"The seed {bad[0]} is out of range: use 0 to {MAX_SEED}.")
        return found


def _sampler_problems(name: str) -> list[str]:
    spec = find_sampler(name)
    if spec is None:
        return [f"Unknown sampler {name!r}: choose one of {', '.join(deterministic_samplers())}."]
    if spec.stochastic:
        return [
            f"'{spec.name}' adds noise while sampling, so it has no single limit to converge "
            "to: choose a deterministic sampler."
        ]
    return []


def _students_problems(students: tuple[StudentCurve, ...]) -> list[str]:
    found = []
    for student in students:
        name = student.model.display_name
        found += [f"{name}: {p}" for p in _sampler_problems(student.sampler)]
        if not (math.isfinite(student.guidance) and 0 <= student.guidance <= 30):
            found.append(f"{name}: CFG {student.guidance!r} is out of range: use 0 to 30.")
    if len(students) > MAX_STUDENTS:
        found.append(f"Draw at most {MAX_STUDENTS} students beside the samplers.")
    if len({s.model for s in students}) != len(students):
        found.append("A student is listed twice.")
    return found


def _reference_problems(name: str, steps: int) -> list[str]:
    found = [f"Reference: {p}" for p in _sampler_problems(name)]
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        found.append(f"The reference needs 1 to {MAX_STEPS} steps, not {steps!r}.")
    return found


def _steps_problems(steps: tuple[int, ...]) -> list[str]:
    if not steps:
        return ["List at least one step count."]
    if len(steps) > MAX_STEP_COUNTS:
        return [f"List at most {MAX_STEP_COUNTS} step counts, not {len(steps)}."]
    for value in steps:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_STEPS:
            return [f"The step count {value!r} is out of range: use 1 to {MAX_STEPS}."]
    if len(set(steps)) != len(steps):
        return ["A step count is listed twice."]
    return []


def parse_steps(text: str) -> tuple[int, ...]:
    """Step counts from "2,4,8"; ValidationError with one sentence when one is bad."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    try:
        steps = tuple(int(part) for part in parts)
    except ValueError:
        raise ValidationError(
            [f"Write the step counts as whole numbers, like 2,4,8, not {text!r}."]
        ) from None
    found = _steps_problems(steps)
    if found:
        raise ValidationError(found)
    return tuple(sorted(steps))


def parse_samplers(text: str) -> tuple[str, ...]:
    """Catalogue names from "DDIM, Euler, DPM++ 2M"; an empty text means all deterministic."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    found = [p for name in names for p in _sampler_problems(name)]
    if found:
        raise ValidationError(found)
    # _sampler_problems refused every name find_sampler does not know.
    return tuple(find_sampler(name).name for name in names)  # type: ignore[union-attr]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConvergencePoint:
    """One sampler at one step count, averaged over the cases.

    `psnr` is the mean PSNR (dB, capped at `PSNR_CAP_DB`) to the reference; `agreement` the
    share of cases where the subgroup classifier names the same subgroup as for the reference
    (None when no classifier fits the model).
    """

    sampler: str
    steps: int
    nfe: int
    network_passes: int
    psnr: float
    agreement: float | None
    wall_s: float
    cases: int
    model: str = ""

    @property
    def series(self) -> str:
        """The curve this point belongs to: its sampler, or "student · sampler" for a student
        drawn beside the job's model (whose points have no `model`)."""
        return f"{self.model} · {self.sampler}" if self.model else self.sampler


CSV_FIELDS = tuple(f.name for f in fields(ConvergencePoint))


def points_csv(points: list[ConvergencePoint]) -> str:
    """The points as CSV text with a header row; a missing agreement is an empty field."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for p in points:
        agreement = "" if p.agreement is None else f"{p.agreement:.4f}"
        writer.writerow(
            [
                p.sampler,
                p.steps,
                p.nfe,
                p.network_passes,
                f"{p.psnr:.3f}",
                agreement,
                f"{p.wall_s:.4f}",
                p.cases,
                p.model,
            ]
        )
    return out.getvalue()


def read_points_csv(text: str) -> list[ConvergencePoint]:
    """Points back from `points_csv` text; ValueError naming the first bad row."""
    rows = list(csv.DictReader(io.StringIO(text)))
    points = []
    for number, row in enumerate(rows, start=2):
        try:
            points.append(
                ConvergencePoint(
                    sampler=row["sampler"],
                    steps=int(row["steps"]),
                    nfe=int(row["nfe"]),
                    network_passes=int(row["network_passes"]),
                    psnr=float(row["psnr"]),
                    agreement=float(row["agreement"]) if row["agreement"] else None,
                    wall_s=float(row["wall_s"]),
                    cases=int(row["cases"]),
                    model=row.get("model") or "",
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"Row {number} of the convergence CSV is not valid: {exc}.") from None
    return points


def curves(points: list[ConvergencePoint]) -> dict[str, list[ConvergencePoint]]:
    """The points grouped by series (sampler, or student and sampler; in first-seen order),
    each curve sorted by NFE."""
    grouped: dict[str, list[ConvergencePoint]] = {}
    for point in points:
        grouped.setdefault(point.series, []).append(point)
    return {name: sorted(group, key=lambda p: p.nfe) for name, group in grouped.items()}


def fewest_nfe(points: list[ConvergencePoint], psnr_db: float) -> list[tuple[str, int | None]]:
    """For each sampler, the fewest evaluations that reached `psnr_db` (None when none did),
    best first (ties: the closer image first): "which sampler gets there in the fewest steps"."""
    ranked = []
    for name, curve in curves(points).items():
        first = next((p for p in curve if p.psnr >= psnr_db), None)
        key = (first is None, first.nfe if first else 0, -first.psnr if first else 0.0, name)
        ranked.append((key, name, first.nfe if first else None))
    return [(name, nfe) for _, name, nfe in sorted(ranked)]
