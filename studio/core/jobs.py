"""Jobs the engine runs: one generation, or a teacher/student comparison."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from studio.core.models import ModelRef
from studio.core.params import GenerationParams, ValidationError, problems


class Lane(StrEnum):
    """Which pane a result belongs to."""

    main = "main"
    teacher = "teacher"
    student = "student"


def new_job_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True, slots=True, kw_only=True)
class PreviewOptions:
    """How often the engine renders step previews, and how large."""

    every: int = 1
    max_side: int = 256

    @property
    def enabled(self) -> bool:
        return self.every > 0


@dataclass(frozen=True, slots=True, kw_only=True)
class LaneSpec:
    """One lane's model and recipe."""

    model: ModelRef
    params: GenerationParams


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerateJob:
    """Generate images with one model and one recipe."""

    lane: LaneSpec
    previews: PreviewOptions = field(default_factory=PreviewOptions)
    job_id: str = field(default_factory=new_job_id)

    @property
    def lanes(self) -> tuple[tuple[Lane, LaneSpec], ...]:
        return ((Lane.main, self.lane),)


@dataclass(frozen=True, slots=True, kw_only=True)
class CompareJob:
    """A teacher and a student from the same prompt, seed and starting noise."""

    teacher: LaneSpec
    student: LaneSpec
    previews: PreviewOptions = field(default_factory=PreviewOptions)
    job_id: str = field(default_factory=new_job_id)

    @property
    def lanes(self) -> tuple[tuple[Lane, LaneSpec], ...]:
        return ((Lane.teacher, self.teacher), (Lane.student, self.student))


Job = GenerateJob | CompareJob

_SHARED = ("seed", "width", "height", "batch_size")


def job_problems(job: Job) -> list[str]:
    """Every problem with a job's lanes, each sentence prefixed by its lane when there are two."""
    found: list[str] = []
    lanes = job.lanes
    for lane, spec in lanes:
        prefix = f"{lane.value.capitalize()}: " if len(lanes) > 1 else ""
        found += [prefix + p for p in problems(spec.params)]
    if isinstance(job, CompareJob):
        for name in _SHARED:
            t, s = getattr(job.teacher.params, name), getattr(job.student.params, name)
            if t != s:
                found.append(f"Both lanes must share the {name.replace('_', ' ')} ({t} vs {s}).")
    if not isinstance(job.previews.every, int) or job.previews.every < 0:
        found.append("Preview interval must be 0 (off) or a positive number of steps.")
    return found


def validate_job(job: Job) -> Job:
    found = job_problems(job)
    if found:
        raise ValidationError(found)
    return job
