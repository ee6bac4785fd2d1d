"""JobTracker: the records of the jobs sent, the running one, busy reported on change."""

from __future__ import annotations

from studio.core.jobs import GenerateJob, LaneSpec
from studio.core.models import ModelRef
from studio.core.params import GenerationParams
from studio.viewmodels.job_tracker import JobTracker


def job() -> GenerateJob:
    return GenerateJob(
        lane=LaneSpec(model=ModelRef.embedded("emoji-teacher"), params=GenerationParams())
    )


def test_busy_changes_only_when_updated() -> None:
    reports: list[bool] = []
    tracker = JobTracker(reports.append)
    first = tracker.add(job())
    assert not tracker.busy and reports == []
    tracker.update_busy()
    assert tracker.busy and tracker.generating and reports == [True]
    tracker.forget(first.job.job_id)
    tracker.ended(first.job.job_id)
    assert not tracker.busy and reports == [True, False]


def test_start_stop_discard_and_clear() -> None:
    tracker = JobTracker(lambda busy: None)
    running, queued = tracker.add(job()), tracker.add(job())
    assert tracker.start(running) and tracker.current == running.job.job_id
    assert tracker.is_current(running) and not tracker.is_current(queued)
    assert tracker.stop() is running and tracker.stop() is None
    assert (
        tracker.discard(queued.job.job_id) is queued and tracker.discard(queued.job.job_id) is None
    )
    assert not tracker.start(queued) and tracker.current == running.job.job_id
    assert (
        tracker.clear() == [running, queued] and tracker.current == "" and tracker.job_ids() == []
    )
