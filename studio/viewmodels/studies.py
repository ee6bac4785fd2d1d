"""Grid and convergence jobs in the session: which view-model follows which job."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject

from studio.core.events import Event
from studio.core.jobs import ConvergeJob, GridJob, Job, Lane, LaneSpec, PreviewOptions
from studio.core.models import ModelRef
from studio.viewmodels.convergence import ConvergenceViewModel
from studio.viewmodels.grid import GridViewModel


class Studies(QObject):
    """Owns the grid and the convergence view-models and hands each its jobs' events."""

    def __init__(
        self,
        submit: Callable[[Job], bool],
        lane_spec: Callable[[Lane], LaneSpec],
        resolve_model: Callable[[str], ModelRef],
        parent: QObject | None = None,
        previews: Callable[[], PreviewOptions] | None = None,
    ) -> None:
        super().__init__(parent)
        self.grid = GridViewModel(submit, lane_spec, resolve_model, self, previews=previews)
        self.convergence = ConvergenceViewModel(submit, lane_spec, self)

    def owner(self, job: Job) -> GridViewModel | ConvergenceViewModel | None:
        if isinstance(job, GridJob):
            return self.grid
        return self.convergence if isinstance(job, ConvergeJob) else None

    def begin(self, job: Job) -> bool:
        """Start following `job`; False when it is no grid or convergence job."""
        if isinstance(job, GridJob):
            self.grid.begin(job)
        elif isinstance(job, ConvergeJob):
            self.convergence.begin(job)
        return self.owner(job) is not None

    def handle(self, job: Job, event: Event) -> bool:
        """Route one event of `job`; False when the job is not a study (the lanes take it)."""
        owner = self.owner(job)
        if owner is not None:
            owner.handle(event)
        return owner is not None

    def end(self, job: Job, status: str) -> None:
        owner = self.owner(job)
        if owner is not None:
            owner.end(job.job_id, status)
