"""Scripted grid and convergence jobs for the fake engine: cells and points without torch."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from studio.core.convergence import ConvergencePoint, deterministic_samplers
from studio.core.events import (
    ConvergencePointReady,
    Event,
    GridCellFinished,
    JobCancelled,
    JobFinished,
    JobProgress,
    PreviewReady,
    StepProgress,
    Timings,
)
from studio.core.jobs import ConvergeJob, GridJob, Lane

STEP_S = 0.01
FAKE_SAMPLERS = ("DDIM", "Euler", "DPM++ 2M")
MISFIT = "Heun"
MISFIT_MESSAGE = "'Heun' does not fit zero-terminal-SNR models such as emoji-teacher."


def cell_image(x: int, y: int, width: int, height: int) -> np.ndarray:
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 40 + 50 * x, 40 + 60 * y, 120
    image.flags.writeable = False
    return image


def grid_script(job: GridJob, token) -> Iterator[Event]:
    cells = job.cells()
    for done, cell in enumerate(cells):
        if token.cancelled:
            yield JobCancelled(job_id=job.job_id, kept_partial=token.keep_partial)
            return
        yield JobProgress(job_id=job.job_id, done=done, total=len(cells), label=cell.label)
        steps = cell.params.num_inference_steps
        for step in range(1, steps + 1):
            yield StepProgress(
                job_id=job.job_id, lane=Lane.main, step=step, total=steps, elapsed_s=STEP_S * step
            )
            if job.previews.enabled and step % job.previews.every == 0:
                yield cell_preview(job, cell.x, cell.y, step, steps)
        misfit = cell.params.sampler == MISFIT
        ran = Timings(step_s=(STEP_S,) * steps, total_s=STEP_S * steps)
        yield GridCellFinished(
            job_id=job.job_id,
            x=cell.x,
            y=cell.y,
            image=None if misfit else cell_image(cell.x, cell.y, 32, 32),
            label=cell.label,
            nfe=0 if misfit else steps,
            params=cell.params,
            model=cell.model,
            error=MISFIT_MESSAGE if misfit else "",
            timings=Timings() if misfit else ran,
        )
    yield JobFinished(job_id=job.job_id)


def cell_preview(job: GridJob, x: int, y: int, step: int, total: int) -> PreviewReady:
    """A cell's step preview: its image darkened by the steps still to go, marked with its cell."""
    image = cell_image(x, y, 32, 32) // (1 + total - step)
    return PreviewReady(
        job_id=job.job_id, lane=Lane.main, step=step, total=total, x_t=image, cell=(x, y)
    )


def convergence_script(job: ConvergeJob, token) -> Iterator[Event]:
    samplers = job.spec.samplers or FAKE_SAMPLERS
    total = 1 + len(samplers) * len(job.spec.steps)
    yield JobProgress(job_id=job.job_id, done=0, total=total, label="reference 1/1")
    done = 1
    for index, sampler in enumerate(samplers):
        for steps in job.spec.steps:
            if token.cancelled:
                yield JobCancelled(job_id=job.job_id, kept_partial=token.keep_partial)
                return
            yield JobProgress(job_id=job.job_id, done=done, total=total, label=sampler)
            done += 1
            yield ConvergencePointReady(job_id=job.job_id, point=fake_point(index, sampler, steps))
    yield JobFinished(job_id=job.job_id)


def fake_point(index: int, sampler: str, steps: int) -> ConvergencePoint:
    nfe = 2 * steps if sampler == "DPM2" else steps
    return ConvergencePoint(
        sampler=sampler,
        steps=steps,
        nfe=nfe,
        network_passes=2 * nfe,
        psnr=min(60.0, 12.0 + (4.0 + index) * math.log2(nfe)),
        agreement=min(1.0, 0.25 * math.log2(nfe + 1)),
        wall_s=STEP_S * nfe,
        cases=2,
    )


assert set(FAKE_SAMPLERS) <= set(deterministic_samplers())
