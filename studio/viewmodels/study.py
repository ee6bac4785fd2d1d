"""What the grid and convergence view-models share: building a study job and sending it."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from studio.core.jobs import Job, Lane, LaneSpec
from studio.core.params import ValidationError


class StudyViewModel(QObject):
    """Sends the job its subclass builds from the session's lanes; `error` says why it could not."""

    error = Signal(str)

    def __init__(
        self,
        submit: Callable[[Job], bool],
        lane_spec: Callable[[Lane], LaneSpec],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._submit = submit
        self._lane_spec = lane_spec
        self.job_id = ""

    def build(self) -> Job:
        raise NotImplementedError

    def run(self) -> str:
        """Send the job to the engine; its id, or "" when it could not be built or sent."""
        try:
            job = self.build()
        except ValidationError as exc:
            self.error.emit(str(exc))
            return ""
        return job.job_id if self._submit(job) else ""
