"""Grid and convergence jobs: many runs of one recipe family from one seed's starting noise."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from studio.core.jobs import ConvergeJob, GridJob, Lane, LaneSpec
from studio.core.params import GenerationParams
from studio.engine.cancel import CancelToken
from studio.engine.loading import LoadedModel
from studio.engine.observer import EventSink

if TYPE_CHECKING:
    from studio.engine.runner import JobOutcome, Runner, Sample


class NoiseBank:
    """The starting noise of each seed, drawn once per latent shape and reused by every run,
    so cells and curves differ only by what they vary, never by their noise."""

    def __init__(self) -> None:
        self._noise: dict[tuple[int, tuple[int, ...]], torch.Tensor | None] = {}

    def get(self, loaded: LoadedModel, params: GenerationParams) -> torch.Tensor | None:
        from studio.engine.runner import latent_shape, start_noise

        shape = latent_shape(loaded.pipe, params) or ()
        key = (params.seed, tuple(shape))
        if key not in self._noise:
            self._noise[key] = start_noise(loaded, params)
        return self._noise[key]


def run_one(
    runner: Runner,
    job: GridJob | ConvergeJob,
    spec: LaneSpec,
    noise: NoiseBank,
    token: CancelToken,
    sink: EventSink,
) -> tuple[Sample, LoadedModel]:
    """Load `spec`'s model (cached after the first run) and sample it from the shared noise."""
    loaded, load_s = runner.load(job.job_id, Lane.main, spec, job, token, sink)
    result = runner.sample(
        job_id=job.job_id,
        lane=Lane.main,
        spec=spec,
        loaded=loaded,
        load_s=load_s,
        noise=noise.get(loaded, spec.params),
        token=token,
        sink=sink,
        previews=job.previews,
    )
    return result, loaded


def run_study(
    runner: Runner, job: GridJob | ConvergeJob, token: CancelToken, sink: EventSink
) -> JobOutcome:
    if isinstance(job, GridJob):
        from studio.engine.grid_runner import run_grid

        return run_grid(runner, job, token, sink)
    from studio.engine.convergence_runner import run_convergence

    return run_convergence(runner, job, token, sink)
