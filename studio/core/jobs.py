"""Jobs the engine runs: one generation, a teacher/student comparison, an X/Y grid, or the
convergence curves of several samplers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from studio.core.convergence import ConvergenceSpec
from studio.core.grid import GridCell, GridSpec
from studio.core.models import ModelRef
from studio.core.params import GenerationParams, ValidationError, problems


class Lane(StrEnum):
    """Which pane a result belongs to."""

    main = "main"
    teacher = "teacher"
    student = "student"


def new_job_id() -> str:
    return uuid.uuid4().hex[:12]


class PreviewDecoder(StrEnum):
    """How a latent model's step previews become RGB: the linear latent->RGB map (no weights,
    the default), the family's tiny decoder (TAESD, TAESDXL, TAESD3, TAEF1: diffusers'
    `AutoencoderTiny`), or the model's own VAE (slowest, exact)."""

    linear = "linear"
    tiny = "tiny"
    full = "full"


@dataclass(frozen=True, slots=True, kw_only=True)
class PreviewOptions:
    """How often the engine renders step previews, how large, and with which decoder.

    `tiny_vae_dir` is a folder the user names that holds tiny decoders (each in a subfolder
    named like its hub repository: taesd, taesdxl, taesd3, taef1, or the decoder itself);
    empty looks in the Hugging Face cache only. `download_tiny` asks the engine to fetch a
    missing tiny decoder from the hub, with progress and cancel; never done otherwise."""

    every: int = 1
    max_side: int = 256
    decoder: PreviewDecoder = PreviewDecoder.linear
    tiny_vae_dir: str = ""
    download_tiny: bool = False

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


@dataclass(frozen=True, slots=True, kw_only=True)
class GridJob:
    """One image per grid cell: the base lane with each cell's axis values, same seed and noise."""

    base: LaneSpec
    grid: GridSpec
    previews: PreviewOptions = field(default_factory=lambda: PreviewOptions(every=0))
    job_id: str = field(default_factory=new_job_id)

    @property
    def lanes(self) -> tuple[tuple[Lane, LaneSpec], ...]:
        return ((Lane.main, self.base),)

    def cells(self) -> list[GridCell]:
        return self.grid.cells(self.base.model, self.base.params)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConvergeJob:
    """Each sampler at each step count against a many-step reference from the same noise."""

    base: LaneSpec
    spec: ConvergenceSpec = field(default_factory=ConvergenceSpec)
    previews: PreviewOptions = field(default_factory=lambda: PreviewOptions(every=0))
    job_id: str = field(default_factory=new_job_id)

    @property
    def lanes(self) -> tuple[tuple[Lane, LaneSpec], ...]:
        return ((Lane.main, self.base),)


Job = GenerateJob | CompareJob | GridJob | ConvergeJob
StudyJob = GridJob | ConvergeJob
AnyJob = TypeVar("AnyJob", bound=Job)

_SHARED = ("seed", "width", "height", "batch_size")


def job_problems(job: Job) -> list[str]:
    """Every problem with a job's lanes, each sentence prefixed by its lane when there are two."""
    found: list[str] = []
    lanes = job.lanes
    for lane, spec in lanes:
        prefix = f"{lane.value.capitalize()}: " if len(lanes) > 1 else ""
        found += [prefix + p for p in problems(spec.params)]
    if isinstance(job, GridJob):
        found += _grid_problems(job)
    if isinstance(job, ConvergeJob):
        found += job.spec.problems()
    if isinstance(job, CompareJob):
        for name in _SHARED:
            t, s = getattr(job.teacher.params, name), getattr(job.student.params, name)
            if t != s:
                found.append(f"Both lanes must share the {name.replace('_', ' ')} ({t} vs {s}).")
    if not isinstance(job.previews.every, int) or job.previews.every < 0:
        found.append("Preview interval must be 0 (off) or a positive number of steps.")
    found += preview_problems(job.previews)
    return found


def preview_problems(previews: PreviewOptions) -> list[str]:
    """The preview decoder's problems, one sentence each (the interval is checked above)."""
    found: list[str] = []
    if not isinstance(previews.decoder, PreviewDecoder):
        choices = ", ".join(d.value for d in PreviewDecoder)
        found.append(f"Preview decoder {previews.decoder!r} is not one of {choices}.")
    if not isinstance(previews.tiny_vae_dir, str) or "\x00" in previews.tiny_vae_dir:
        found.append("The tiny VAE folder must be a path (or empty for the Hugging Face cache).")
    if not isinstance(previews.download_tiny, bool):
        found.append("Whether to download a tiny VAE must be true or false.")
    return found


def _grid_problems(job: GridJob) -> list[str]:
    """The axes' problems, then each cell's own (not the base's), named by its first cell."""
    found = job.grid.problems()
    if found:
        return found
    seen = set(problems(job.base.params))
    for cell in job.cells():
        for problem in problems(cell.params):
            if problem not in seen:
                seen.add(problem)
                found.append(f"{cell.label}: {problem}")
    return found


def validate_job(job: AnyJob) -> AnyJob:
    found = job_problems(job)
    if found:
        raise ValidationError(found)
    return job
