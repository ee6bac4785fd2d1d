"""Turning the session's values into jobs: seeds, one-line summaries, how a job's end shows."""

from __future__ import annotations

import random
from dataclasses import dataclass

from studio.core.events import Event, JobCancelled, JobFailed, JobFinished
from studio.core.jobs import CompareJob, ConvergeJob, GridJob, Job
from studio.core.params import MAX_SEED
from studio.core.settings import SeedMode
from studio.viewmodels.job_tracker import JobRecord
from studio.viewmodels.lane import LaneEnd


@dataclass(frozen=True, slots=True)
class Settlement:
    """How a job's end shows: how its unfinished lanes ended (`ended`, and `status` to show),
    which images to save (`keep_partial` None drops them all), and an error to show."""

    ended: LaneEnd
    status: str
    keep_partial: bool | None
    error: str = ""


def settlement(record: JobRecord, event: Event) -> Settlement:
    match event:
        case _ if record.discarded:
            return Settlement(LaneEnd.cancelled, "Cancelled", None)
        case JobFailed(message=message):
            return Settlement(LaneEnd.failed, "Failed", False, message)
        case JobCancelled(kept_partial=True):
            return Settlement(LaneEnd.stopped, "Stopped", record.user_stopped)
        case JobCancelled():
            return Settlement(LaneEnd.cancelled, "Cancelled", None)
        case JobFinished():
            return Settlement(LaneEnd.done, "Done", False)
    return Settlement(LaneEnd.done, "", False)


def job_kind(job: Job) -> str:
    if isinstance(job, GridJob):
        return f"Grid {job.grid.columns}x{job.grid.rows}"
    if isinstance(job, ConvergeJob):
        return "Convergence"
    return "Compare" if isinstance(job, CompareJob) else "Generate"


def job_summary(job: Job, limit: int = 40) -> str:
    """One line for the queue list, e.g. "Compare · seed 42 · 32x32 · grinning face…"."""
    params = job.lanes[0][1].params
    prompt = params.prompt.replace("\n", " ")
    prompt = prompt if len(prompt) <= limit else prompt[: limit - 1] + "…"
    return f"{job_kind(job)} · seed {params.seed} · {params.width}x{params.height} · {prompt}"


def seeds_for(mode: SeedMode, seed: int, count: int, rng: random.Random) -> list[int]:
    """The seeds of `count` jobs: all `seed`, `seed`, `seed`+1, ..., or random ones."""
    if mode is SeedMode.random:
        return [rng.randint(0, MAX_SEED) for _ in range(count)]
    valid = isinstance(seed, int) and 0 <= seed <= MAX_SEED
    if mode is SeedMode.increment and valid:
        return [(seed + i) % (MAX_SEED + 1) for i in range(count)]
    return [seed] * count
