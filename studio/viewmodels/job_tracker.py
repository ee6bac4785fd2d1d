"""The jobs the session sent and has not seen end: their records, the running one, busy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from studio.core.jobs import Job, StudyJob


@dataclass(slots=True)
class JobRecord:
    """What the session remembers about a job it sent: was it discarded, or stopped to keep?"""

    job: Job
    discarded: bool = False
    user_stopped: bool = False


class JobTracker:
    """Keeps a record of each job sent until its end, knows which one runs, and reports through
    `on_busy` when the session goes from no job to some or back (at `update_busy`, so a job the
    engine refused never shows as busy)."""

    def __init__(self, on_busy: Callable[[bool], None]) -> None:
        self._records: dict[str, JobRecord] = {}
        self._current = ""
        self._busy = False
        self._on_busy = on_busy

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def current(self) -> str:
        """The id of the running job ("" when none runs or it was discarded)."""
        return self._current

    @property
    def generating(self) -> bool:
        """A Generate or Compare job is running or queued."""
        return any(not isinstance(record.job, StudyJob) for record in self._records.values())

    def job_ids(self) -> list[str]:
        return list(self._records)

    def get(self, job_id: str) -> JobRecord | None:
        return self._records.get(job_id)

    def add(self, job: Job) -> JobRecord:
        record = self._records[job.job_id] = JobRecord(job=job)
        return record

    def forget(self, job_id: str) -> None:
        self._records.pop(job_id, None)

    def start(self, record: JobRecord) -> bool:
        """The engine started `record`'s job: it runs now, unless it was discarded (False)."""
        if record.discarded:
            return False
        self._current = record.job.job_id
        return True

    def is_current(self, record: JobRecord) -> bool:
        """Whether `record`'s events show: its job runs and was not discarded."""
        return not record.discarded and record.job.job_id == self._current

    def stop(self) -> JobRecord | None:
        """Mark the running job stopped to keep its images; None when none runs, or it is
        already discarded or stopped."""
        record = self._records.get(self._current)
        if record is None or record.discarded or record.user_stopped:
            return None
        record.user_stopped = True
        return record

    def discard(self, job_id: str) -> JobRecord | None:
        """Mark a job discarded; None when it is unknown or already discarded."""
        record = self._records.get(job_id)
        if record is None or record.discarded:
            return None
        record.discarded = True
        return record

    def ended(self, job_id: str) -> None:
        """A forgotten job's end is shown: it no longer runs, and busy follows."""
        if job_id == self._current:
            self._current = ""
        self.update_busy()

    def clear(self) -> list[JobRecord]:
        """Forget every job (the engine stopped); the records forgotten."""
        records = list(self._records.values())
        self._records.clear()
        self._current = ""
        return records

    def update_busy(self) -> None:
        busy = bool(self._records)
        if busy != self._busy:
            self._busy = busy
            self._on_busy(busy)
