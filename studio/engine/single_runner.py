"""Running a single or compare job: every lane from the first lane's starting noise, one
`LaneFinished` per lane, and a `CompareFinished` when a teacher and a student both ran."""

from __future__ import annotations

import torch

from studio.core.events import CompareFinished, LaneFinished
from studio.core.jobs import CompareJob, GenerateJob, Lane, LaneSpec
from studio.core.metrics import psnr, speedup, ssim
from studio.engine.cancel import CancelToken
from studio.engine.loading import LoadedModel
from studio.engine.observer import EventSink
from studio.engine.sampling import LaneCall, start_noise
from studio.engine.strategy import JobOutcome, LaneResult, LaneRunner


def run_single(
    runner: LaneRunner, job: GenerateJob | CompareJob, token: CancelToken, sink: EventSink
) -> JobOutcome:
    """Load every lane's model first, then run the lanes from the same noise: a comparison's
    student first, so its image (the point of a distilled model) shows while the teacher forms."""
    loaded = {
        lane: runner.load(job.job_id, lane, spec, job, token, sink) for lane, spec in job.lanes
    }
    first_lane, first_spec = job.lanes[0]
    noise = start_noise(loaded[first_lane][0], first_spec.params)
    results: dict[Lane, LaneResult] = {}
    for lane, spec in run_order(job):
        if token.cancelled:
            token.check()
            break
        model, load_s = loaded[lane]
        results[lane] = run_lane(runner, job, lane, spec, model, load_s, noise, token, sink)
    stopped = token.keep_partial or any(r.partial for r in results.values())
    if isinstance(job, CompareJob) and len(results) == 2:
        sink.emit(compare_event(job.job_id, results[Lane.teacher], results[Lane.student]))
    return JobOutcome(results, stopped)


def run_order(job: GenerateJob | CompareJob) -> tuple[tuple[Lane, LaneSpec], ...]:
    """The lanes in the order they run: the student before the teacher."""
    return tuple(sorted(job.lanes, key=lambda item: item[0] is not Lane.student))


def run_lane(
    runner: LaneRunner,
    job: GenerateJob | CompareJob,
    lane: Lane,
    spec: LaneSpec,
    loaded: LoadedModel,
    load_s: float,
    noise: torch.Tensor | None,
    token: CancelToken,
    sink: EventSink,
) -> LaneResult:
    """Sample one lane and report it with a `LaneFinished`."""
    call = LaneCall(
        job_id=job.job_id,
        lane=lane,
        spec=spec,
        loaded=loaded,
        load_s=load_s,
        noise=noise,
        previews=job.previews,
    )
    result = runner.sample(call, token, sink)
    # A discard asked for while the lane decoded ends the job without its image.
    token.check()
    timings = result.timings
    sink.emit(
        LaneFinished(
            job_id=job.job_id,
            lane=lane,
            images=result.images,
            params=spec.params,
            model=spec.model,
            timings=timings,
            steps=len(timings.step_s),
            partial=result.partial,
            notice=result.notice,
        )
    )
    return LaneResult(result.images, timings.total_s, result.partial)


def compare_event(job_id: str, teacher: LaneResult, student: LaneResult) -> CompareFinished:
    a, b = teacher.images[0], student.images[0]
    same = a.shape == b.shape
    return CompareFinished(
        job_id=job_id,
        speedup=speedup(teacher.total_s, student.total_s),
        psnr=psnr(a, b) if same else float("nan"),
        ssim=ssim(a, b) if same else float("nan"),
    )
