"""Running an X/Y grid: every cell from the same starting noise, streamed as each finishes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from studio.core.events import Event, GridCellFinished, JobProgress, PreviewReady, StepProgress
from studio.core.grid import GridCell, run_order
from studio.core.jobs import GridJob, Lane, LaneSpec
from studio.engine.cancel import CancelToken
from studio.engine.observer import EventSink
from studio.engine.samplers import SamplerError
from studio.engine.strategy import JobOutcome, LaneRunner
from studio.engine.studies import NoiseBank, run_one


class CellSink:
    """Stamps one grid cell's coordinate on the steps and previews its run reports, so they
    can be told apart by cell rather than by the order the events arrive in."""

    def __init__(self, sink: EventSink, cell: GridCell) -> None:
        self.sink = sink
        self.cell = (cell.x, cell.y)

    def emit(self, event: Event) -> None:
        if isinstance(event, StepProgress):
            event = replace(event, cell=self.cell)
        self.sink.emit(event)

    def offer_preview(self, lane: Lane, make: Callable[[], PreviewReady]) -> bool:
        return self.sink.offer_preview(lane, lambda: replace(make(), cell=self.cell))


def run_grid(runner: LaneRunner, job: GridJob, token: CancelToken, sink: EventSink) -> JobOutcome:
    """Run every cell; a cell whose sampler does not fit its model is reported, not fatal."""
    cells = run_order(job.cells())
    noise = NoiseBank()
    for done, cell in enumerate(cells):
        token.check()
        if token.keep_partial:
            break
        sink.emit(JobProgress(job_id=job.job_id, done=done, total=len(cells), label=cell.label))
        event = _run_cell(runner, job, cell, noise, token, sink)
        sink.emit(event)
        if event.partial:
            break
    return JobOutcome({}, token.keep_partial)


def _run_cell(
    runner: LaneRunner,
    job: GridJob,
    cell: GridCell,
    noise: NoiseBank,
    token: CancelToken,
    sink: EventSink,
) -> GridCellFinished:
    spec = LaneSpec(model=cell.model, params=cell.params)
    empty = GridCellFinished(
        job_id=job.job_id,
        x=cell.x,
        y=cell.y,
        label=cell.label,
        params=cell.params,
        image=None,
        nfe=0,
        model=cell.model,
    )
    try:
        result, _ = run_one(runner, job, spec, noise, token, CellSink(sink, cell))
    except SamplerError as exc:
        return replace(empty, error=str(exc))
    return replace(
        empty,
        image=result.images[0],
        nfe=result.model_calls,
        partial=result.partial,
        timings=result.timings,
    )
