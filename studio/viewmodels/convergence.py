"""The window's convergence curves: which samplers and step counts, and the points so far."""

from __future__ import annotations

import operator
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from studio.core.atomic import atomic_write_text
from studio.core.convergence import (
    DEFAULT_STEPS,
    REFERENCE_SAMPLER,
    REFERENCE_STEPS,
    ConvergencePoint,
    ConvergenceSpec,
    StudentCurve,
    fewest_nfe,
    parse_samplers,
    parse_steps,
    points_csv,
    read_points_csv,
)
from studio.core.convergence_estimate import ConvergenceEstimate, estimate_convergence, pace_of
from studio.core.events import ConvergencePointReady, Event, JobProgress, StepProgress
from studio.core.jobs import ConvergeJob, Job, Lane, LaneSpec
from studio.core.params import MAX_SEED, ValidationError
from studio.viewmodels.lane import LaneViewModel
from studio.viewmodels.observable import Observable
from studio.viewmodels.study import StudyViewModel
from studio.viewmodels.study_progress import StudyProgress

METRIC_KEYS = ("psnr", "agreement")
SUMMARY_DB = 30.0


def measured_pace(lane: LaneViewModel) -> float | None:
    """Seconds per model evaluation in `lane`'s last finished run; None before one."""
    return pace_of(lane.timings.step_s) if lane.timings is not None else None


class ConvergenceViewModel(StudyViewModel):
    """Builds convergence jobs from the teacher lane and keeps the points as they stream in.

    Observable: `samplers` (comma-separated; empty means every deterministic sampler that
    fits the model), `steps` ("2, 4, 8"), `cases` (seeds from the session's seed on),
    `reference_steps`, `metric` ("psnr" or "agreement"), `with_student` (the student lane's
    model, sampler and CFG drawn beside the samplers). `pace` gives the seconds per model
    evaluation last measured (None when unknown) for `estimate`.
    """

    samplersChanged = Signal(str)
    stepsChanged = Signal(str)
    casesChanged = Signal(int)
    referenceStepsChanged = Signal(int)
    metricChanged = Signal(str)
    withStudentChanged = Signal(bool)
    pointsChanged = Signal()

    samplers = Observable(str)
    steps = Observable(str)
    cases = Observable(operator.index)
    reference_steps = Observable(operator.index)
    metric = Observable(str)
    with_student = Observable(bool)

    def __init__(
        self,
        submit: Callable[[Job], bool],
        lane_spec: Callable[[Lane], LaneSpec],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(submit, lane_spec, parent)
        self._samplers = ""
        self._steps = ", ".join(map(str, DEFAULT_STEPS))
        self._cases = 2
        self._reference_steps = REFERENCE_STEPS
        self._metric = "psnr"
        self._with_student = False
        self.progress = StudyProgress("Run", self)
        self.points: list[ConvergencePoint] = []
        self.title = ""
        self.pace: Callable[[], float | None] = lambda: None

    def _changed(self, name: str) -> None:
        if name == "metric" and self.metric not in METRIC_KEYS:
            self._metric = "psnr"

    def build(self) -> ConvergeJob:
        """The job for the current choices; ValidationError listing what is wrong."""
        try:
            base = self._lane_spec(Lane.teacher)
        except ValueError as exc:
            raise ValidationError([str(exc)]) from None
        seed = base.params.seed
        spec = ConvergenceSpec(
            samplers=parse_samplers(self.samplers),
            steps=parse_steps(self.steps),
            reference_sampler=REFERENCE_SAMPLER,
            reference_steps=self.reference_steps,
            seeds=tuple((seed + i) % (MAX_SEED + 1) for i in range(max(1, self.cases))),
            students=self._students(),
        )
        found = spec.problems()
        if found:
            raise ValidationError(found)
        return ConvergeJob(base=base, spec=spec)

    def _students(self) -> tuple[StudentCurve, ...]:
        if not self.with_student:
            return ()
        try:
            lane = self._lane_spec(Lane.student)
        except ValueError as exc:
            raise ValidationError([f"The student lane: {exc}"]) from None
        p = lane.params
        return (StudentCurve(model=lane.model, sampler=p.sampler, guidance=p.guidance_scale),)

    def estimate(self) -> ConvergenceEstimate | None:
        """What the current choices would queue and about how long they take (at `pace()`
        seconds per evaluation when it knows one); None when they cannot be built."""
        try:
            job = self.build()
        except ValidationError:
            return None
        p = job.base.params
        cases = len(job.spec.cases(p.prompt, p.seed))
        return estimate_convergence(job.spec, cases, self.pace())

    def begin(self, job: ConvergeJob) -> None:
        self.job_id = job.job_id
        self.points = []
        p, spec = job.base.params, job.spec
        cases = len(spec.cases(p.prompt, p.seed))
        self.title = (
            f"{job.base.model.display_name} · CFG {p.guidance_scale:g} · reference "
            f"{spec.reference_sampler}, {spec.reference_steps} steps · "
            f"{cases} case{'s' if cases != 1 else ''}"
        )
        self.progress.begin(job.job_id, 0)
        self.pointsChanged.emit()

    def handle(self, event: Event) -> None:
        if event.job_id != self.job_id:
            return
        match event:
            case JobProgress():
                self.progress.on_progress(event)
            case StepProgress():
                self.progress.on_step(event)
            case ConvergencePointReady(point=point):
                self.points.append(point)
                self.pointsChanged.emit()

    def end(self, job_id: str, status: str) -> None:
        self.progress.end(job_id, status)

    def summary(self, psnr_db: float = SUMMARY_DB) -> str:
        """Which samplers reached `psnr_db`, and with how few evaluations, best first."""
        ranked = [(name, nfe) for name, nfe in fewest_nfe(self.points, psnr_db) if nfe]
        if not ranked:
            return f"No sampler has reached {psnr_db:g} dB yet." if self.points else ""
        best = ", ".join(f"{name} {nfe}" for name, nfe in ranked[:5])
        return f"Fewest evaluations to {psnr_db:g} dB: {best}"

    def save_csv(self, path: Path) -> Path:
        return atomic_write_text(path, points_csv(self.points))

    def load_csv(self, path: Path) -> bool:
        """Show the points of a CSV written by `studio converge` or Save CSV."""
        try:
            points = read_points_csv(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            self.error.emit(f"Could not read {path.name}: {exc}")
            return False
        self.points, self.title, self.job_id = points, path.name, ""
        self.pointsChanged.emit()
        return True
