"""Generate's jobs from the session's values: model references, one job per seed of the batch,
every problem one sentence."""

from __future__ import annotations

import random
from typing import Protocol

from studio.core.jobs import (
    CompareJob,
    GenerateJob,
    Job,
    Lane,
    LaneSpec,
    PreviewDecoder,
    PreviewOptions,
)
from studio.core.jobs import job_problems as find_job_problems
from studio.core.model_resolver import ModelResolver
from studio.core.models import ModelRef
from studio.core.pickle_permissions import PicklePermissions
from studio.core.settings import MAX_BATCH_COUNT, SeedMode, SharedParams
from studio.viewmodels.lane import LaneViewModel, lane_misfits
from studio.viewmodels.submission import seeds_for


class JobSource(Protocol):
    """The values Generate's jobs are made of (the session is one)."""

    teacher_model: str
    student_model: str
    compare_mode: bool
    batch_count: int
    seed: int
    seed_mode: SeedMode
    preview_every: int
    preview_decoder: PreviewDecoder
    tiny_vae_dir: str
    tiny_vae_download: bool
    pickle_permissions: PicklePermissions
    models: ModelResolver

    @property
    def teacher(self) -> LaneViewModel: ...

    @property
    def student(self) -> LaneViewModel: ...

    def shared_params(self, seed: int | None = None) -> SharedParams: ...


class JobBuilder:
    """Builds Generate's jobs (and one lane's spec for the studies) from a `JobSource`."""

    def __init__(self, source: JobSource, rng: random.Random) -> None:
        self._source = source
        self._rng = rng

    def jobs(self) -> tuple[list[Job], list[str]]:
        """The batch's jobs, or none and why not, one sentence each."""
        s = self._source
        found: list[str] = []
        count = s.batch_count
        if not isinstance(count, int) or not 1 <= count <= MAX_BATCH_COUNT:
            found.append(f"The batch count {count!r} is out of range: use 1 to {MAX_BATCH_COUNT}.")
            count = 1
        names = [s.teacher_model] + ([s.student_model] if s.compare_mode else [])
        refs, unknown = s.models.resolve_all(names, s.pickle_permissions)
        lanes = [s.teacher, s.student] if s.compare_mode else [s.teacher]
        found += unknown + lane_misfits(lanes)
        if found:
            return [], found
        seeds = seeds_for(s.seed_mode, s.seed, count, self._rng)
        jobs = [self._job(seed, refs) for seed in seeds]
        found = find_job_problems(jobs[0])
        return ([], found) if found else (jobs, [])

    def _job(self, seed: int, refs: list[ModelRef]) -> Job:
        s = self._source
        shared = s.shared_params(seed)
        previews = self.preview_options()
        teacher = LaneSpec(model=refs[0], params=s.teacher.params(shared))
        if not s.compare_mode:
            return GenerateJob(lane=teacher, previews=previews)
        student = LaneSpec(model=refs[1], params=s.student.params(shared))
        return CompareJob(teacher=teacher, student=student, previews=previews)

    def preview_options(self) -> PreviewOptions:
        """The step previews the session asks for (interval, decoder), for every job it sends."""
        s = self._source
        return PreviewOptions(
            every=s.preview_every,
            decoder=PreviewDecoder(s.preview_decoder),
            tiny_vae_dir=s.tiny_vae_dir,
            download_tiny=s.tiny_vae_download,
        )

    def lane_spec(self, lane: Lane) -> LaneSpec:
        """A lane's model and recipe as Generate would send them; ValueError naming a bad model."""
        s = self._source
        name = s.student_model if lane is Lane.student else s.teacher_model
        refs, found = s.models.resolve_all([name], s.pickle_permissions)
        if found:
            raise ValueError(found[0])
        view = s.student if lane is Lane.student else s.teacher
        return LaneSpec(model=refs[0], params=view.params(s.shared_params()))
