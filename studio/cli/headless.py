"""Running jobs without a window: submit to an engine, follow its events in the terminal."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from studio.core.client import EngineClient
from studio.core.commands import Submit
from studio.core.convergence import ConvergencePoint
from studio.core.events import (
    CompareFinished,
    ConvergencePointReady,
    DownloadProgress,
    EngineStopped,
    GridCellFinished,
    JobCancelled,
    JobFailed,
    JobFinished,
    JobProgress,
    LaneFinished,
    ModelLoaded,
    PrepareProgress,
    PreviewReady,
    StepProgress,
)
from studio.core.jobs import Job, Lane
from studio.core.reels import PreviewKeeper
from studio.core.units import download_status
from studio.worker.host import headless_host


@dataclass
class JobReport:
    """Everything a headless run collected from one job's events."""

    lanes: dict[Lane, LaneFinished] = field(default_factory=dict)
    compare: CompareFinished | None = None
    cells: list[GridCellFinished] = field(default_factory=list)
    points: list[ConvergencePoint] = field(default_factory=list)
    previews: dict[Lane, PreviewKeeper] = field(default_factory=dict)
    cell_previews: dict[tuple[int, int], PreviewKeeper] = field(default_factory=dict)
    keep_cell: Callable[[tuple[int, int]], bool] = lambda cell: True
    failure: str = ""
    cancelled: bool = False

    def keep(self, event: PreviewReady) -> None:
        """Keep a bounded, downscaled copy of a preview (the predicted clean image when there
        is one) for an animation: by grid cell when it names one (and `keep_cell` wants it),
        else by lane."""
        image = event.x0 if event.x0 is not None else event.x_t
        if event.cell is None:
            self.previews.setdefault(event.lane, PreviewKeeper()).add(event.step, image)
        elif self.keep_cell(event.cell):
            self.cell_previews.setdefault(event.cell, PreviewKeeper()).add(event.step, image)

    def kept_cells(self) -> dict[tuple[int, int], dict[int, np.ndarray]]:
        """Each grid cell's kept previews, by step."""
        return {cell: keeper.frames for cell, keeper in self.cell_previews.items()}


class TerminalProgress:
    """A one-line progress bar per lane on stderr (silent when stderr is not a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def step(self, event: StepProgress) -> None:
        if not self.enabled:
            return
        width = 30
        done = int(width * event.step / max(1, event.total))
        bar = "#" * done + "-" * (width - done)
        sys.stderr.write(
            f"\r{event.lane.value:>8} [{bar}] {event.step}/{event.total} {event.elapsed_s:5.1f}s"
        )
        if event.step == event.total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    def prepare(self, event: PrepareProgress) -> None:
        """One-off work before a lane's first step (a Gamma table): a line that fills up."""
        if not self.enabled:
            return
        sys.stderr.write(f"\r{event.lane.value:>8} {event.task} {event.done}/{event.total}")
        if event.done == event.total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    def download(self, event: DownloadProgress) -> None:
        """A model downloading from the hub: a line that fills up."""
        if not self.enabled:
            return
        sys.stderr.write(f"\r{download_status(event)}   ")
        if event.files_total and event.files_done == event.files_total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    def run(self, event: JobProgress) -> None:
        """A grid cell or convergence run begins: one line each."""
        if self.enabled:
            sys.stderr.write(f"[{event.done + 1}/{event.total}] {event.label}\n")
            sys.stderr.flush()

    def note(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write(text + "\n")

    def warn(self, text: str) -> None:
        """A sentence the user must see even without progress (what a lane left out)."""
        sys.stderr.write(text + "\n")


async def _follow(
    host: EngineClient, job: Job, progress: TerminalProgress, report: JobReport
) -> JobReport:
    host.send(Submit(job=job))
    async for event in host.listen():
        match event:
            case StepProgress():
                progress.step(event)
            case PreviewReady():
                report.keep(event)
            case PrepareProgress():
                progress.prepare(event)
            case DownloadProgress():
                progress.download(event)
            case ModelLoaded(model=model, device=device, load_s=load_s, notice=notice):
                progress.note(f"loaded {model.display_name} on {device} in {load_s:.2f}s")
                if notice:
                    progress.note(notice)
            case LaneFinished(notice=notice):
                report.lanes[event.lane] = event
                if notice:
                    progress.warn(notice)
            case CompareFinished():
                report.compare = event
            case JobProgress():
                progress.run(event)
            case GridCellFinished():
                report.cells.append(event)
            case ConvergencePointReady(point=point):
                report.points.append(point)
            case JobFailed(message=message):
                report.failure = message
                return report
            case JobCancelled():
                report.cancelled = True
                return report
            case JobFinished():
                return report
            case EngineStopped(reasons=reasons):
                report.failure = " ".join(reasons) or "The engine stopped."
                return report
    return report


def run_job(
    job: Job,
    progress: bool | None = None,
    host: EngineClient | None = None,
    report: JobReport | None = None,
) -> JobReport:
    """Run one job to its end on `host`, or on a new in-process engine (the headless commands
    have no window to protect, so they keep the thread engine unless told otherwise), and
    return what it produced (into `report` when given, e.g. one that keeps only some cells'
    previews)."""
    show = sys.stderr.isatty() if progress is None else progress
    own = host is None
    host = host or headless_host()
    try:
        return asyncio.run(_follow(host, job, TerminalProgress(show), report or JobReport()))
    finally:
        if own:
            host.close()
