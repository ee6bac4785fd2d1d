"""Spreading studies over the engine replicas: a grid's cells, a convergence run's samplers,
each part a job of its own, and their events merged back into the one job's."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

from studio.core.events import (
    ConvergencePointReady,
    Event,
    GridCellFinished,
    JobCancelled,
    JobFailed,
    JobFinished,
    JobProgress,
    ModelLoaded,
    PreviewReady,
)
from studio.core.grid import Axis, GridCell, GridSpec, dispatch_order
from studio.core.jobs import ConvergeJob, GridJob


@dataclass(frozen=True, slots=True)
class CellJob:
    """One cell of a grid as a grid job of its own (one value per axis)."""

    job: GridJob
    cell: GridCell


def split_grid(job: GridJob) -> list[CellJob]:
    """The grid's cells in dispatch order (longest first within a model, so the replicas
    finish together), each a one-cell grid with the same base, seed, noise and preview
    setting, so that its image (and its previews) are the ones the whole grid would make."""
    parts = []
    for index, cell in enumerate(dispatch_order(job.cells())):
        x = Axis(name=job.grid.x.name, values=(job.grid.x.values[cell.x],))
        y = None
        if job.grid.y is not None:
            y = Axis(name=job.grid.y.name, values=(job.grid.y.values[cell.y],))
        sub = replace(job, job_id=f"{job.job_id}.{index}", grid=GridSpec(x=x, y=y))
        parts.append(CellJob(sub, cell))
    return parts


@dataclass
class GridMerge:
    """Turns the events of a grid's cell jobs into the events one engine would have sent for
    the whole grid: each cell (and each of its previews) at its place, progress over all
    cells, one end. A cell job that fails becomes a cell with its error, as a cell whose
    sampler does not fit is locally."""

    RELAYED: ClassVar[tuple[str, ...]] = (
        "GridCellFinished",
        "PreviewReady",
        "ModelLoaded",
        "JobFailed",
        "JobCancelled",
        "JobFinished",
    )
    """The cell jobs' event types `take` uses: the replicas send only these."""

    job: GridJob
    parts: list[CellJob]
    done: int = 0
    cancelled: bool = False
    kept_partial: bool = False
    _cells: dict[str, GridCell] = field(default_factory=dict)
    _ended: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._cells = {part.job.job_id: part.cell for part in self.parts}

    @property
    def cell_jobs(self) -> tuple[str, ...]:
        return tuple(self._cells)

    @property
    def finished(self) -> bool:
        return self.done == len(self.parts)

    def take(self, event: Event) -> list[Event]:
        """The parent's events for one event of a cell job (most give none)."""
        sub = event.job_id
        cell = self._cells.get(sub)
        if cell is None:
            return []
        parent = self.job.job_id
        match event:
            case GridCellFinished():
                placed = replace(event, job_id=parent, x=cell.x, y=cell.y, label=cell.label)
                return [placed, *self._progress(sub, cell)]
            case PreviewReady():
                return [replace(event, job_id=parent, cell=(cell.x, cell.y))]
            case ModelLoaded():
                return [replace(event, job_id=parent)]
            case JobFailed(message=message):
                failed = GridCellFinished(
                    job_id=parent,
                    x=cell.x,
                    y=cell.y,
                    image=None,
                    label=cell.label,
                    nfe=0,
                    params=cell.params,
                    model=cell.model,
                    error=message,
                )
                return [failed, *self._progress(sub, cell)]
            case JobCancelled(kept_partial=kept):
                self.cancelled = True
                self.kept_partial = self.kept_partial or kept
                return self._progress(sub, cell)
            case JobFinished():
                return []
        return []

    def _progress(self, sub: str, cell: GridCell) -> list[Event]:
        if sub in self._ended:
            return []
        self._ended.add(sub)
        self.done += 1
        total = len(self.parts)
        progress = JobProgress(
            job_id=self.job.job_id, done=self.done, total=total, label=cell.label
        )
        if not self.finished:
            return [progress]
        end: Event = (
            JobCancelled(job_id=self.job.job_id, kept_partial=self.kept_partial)
            if self.cancelled
            else JobFinished(job_id=self.job.job_id)
        )
        return [progress, end]


def split_convergence(job: ConvergeJob, replicas: int) -> list[ConvergeJob]:
    """A convergence run's listed samplers (and students) dealt into one job per replica (at
    most), each with the same cases and reference; one job when the run lists fewer than two
    samplers (an empty list means every sampler that fits, which only the engine holding the
    model knows)."""
    samplers = job.spec.samplers
    groups = min(replicas, len(samplers))
    if groups < 2:
        return [job]
    return [
        replace(
            job,
            job_id=f"{job.job_id}.{index}",
            spec=replace(
                job.spec,
                samplers=samplers[index::groups],
                students=job.spec.students[index::groups],
            ),
        )
        for index in range(groups)
    ]


@dataclass
class ConvergeMerge:
    """Turns the events of a convergence run's sampler groups into one run's: every point as it
    comes, progress summed over the groups, one end (the first failure's sentence, if any)."""

    RELAYED: ClassVar[tuple[str, ...]] = (
        "ConvergencePointReady",
        "ModelLoaded",
        "JobProgress",
        "JobFailed",
        "JobCancelled",
        "JobFinished",
    )
    """The parts' event types `take` uses: the replicas send only these."""

    job: ConvergeJob
    parts: list[ConvergeJob]
    _progress: dict[str, tuple[int, int]] = field(default_factory=dict)
    _ended: dict[str, Event] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return len(self._ended) == len(self.parts)

    @property
    def part_jobs(self) -> tuple[str, ...]:
        return tuple(part.job_id for part in self.parts)

    def take(self, event: Event) -> list[Event]:
        sub = event.job_id
        if sub not in self.part_jobs or sub in self._ended:
            return []
        parent = self.job.job_id
        match event:
            case ConvergencePointReady() | ModelLoaded():
                return [replace(event, job_id=parent)]
            case JobProgress(done=done, total=total, label=label):
                self._progress[sub] = (done, total)
                done_all = sum(d for d, _ in self._progress.values())
                total_all = sum(t for _, t in self._progress.values())
                return [JobProgress(job_id=parent, done=done_all, total=total_all, label=label)]
            case JobFinished() | JobCancelled() | JobFailed():
                self._ended[sub] = event
                return [self._end()] if self.finished else []
        return []

    def _end(self) -> Event:
        parent = self.job.job_id
        ends = list(self._ended.values())
        failed = [e for e in ends if isinstance(e, JobFailed)]
        if failed:
            return JobFailed(job_id=parent, message=failed[0].message, detail=failed[0].detail)
        cancelled = [e for e in ends if isinstance(e, JobCancelled)]
        if cancelled:
            kept = any(e.kept_partial for e in cancelled)
            return JobCancelled(job_id=parent, kept_partial=kept)
        return JobFinished(job_id=parent)
