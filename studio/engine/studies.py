"""Grid and convergence jobs: many runs of one recipe family from one seed's starting noise."""

from __future__ import annotations

import torch

from studio.core.jobs import ConvergeJob, GridJob, Lane, LaneSpec
from studio.core.params import GenerationParams
from studio.engine.cancel import CancelToken
from studio.engine.loading import LoadedModel
from studio.engine.observer import EventSink
from studio.engine.sampling import LaneCall, Sample, latent_shape, start_noise
from studio.engine.strategy import LaneRunner


class NoiseBank:
    """The starting noise of each seed, drawn once per latent shape and reused by every run,
    so cells and curves differ only by what they vary, never by their noise."""

    def __init__(self) -> None:
        self._noise: dict[tuple[int, tuple[int, ...]], torch.Tensor | None] = {}

    def get(self, loaded: LoadedModel, params: GenerationParams) -> torch.Tensor | None:
        shape = latent_shape(loaded.pipe, params) or ()
        key = (params.seed, tuple(shape))
        if key not in self._noise:
            self._noise[key] = start_noise(loaded, params)
        return self._noise[key]


def run_one(
    runner: LaneRunner,
    job: GridJob | ConvergeJob,
    spec: LaneSpec,
    noise: NoiseBank,
    token: CancelToken,
    sink: EventSink,
) -> tuple[Sample, LoadedModel]:
    """Load `spec`'s model (cached after the first run) and sample it from the shared noise."""
    loaded, load_s = runner.load(job.job_id, Lane.main, spec, job, token, sink)
    call = LaneCall(
        job_id=job.job_id,
        lane=Lane.main,
        spec=spec,
        loaded=loaded,
        load_s=load_s,
        noise=noise.get(loaded, spec.params),
        previews=job.previews,
    )
    result = runner.sample(call, token, sink)
    return result, loaded
