"""The window's X/Y grid: the axes the user chose, and the cells of the last grid as they arrive."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from studio.core.animation import Timing, write_animation
from studio.core.events import Event, GridCellFinished, JobProgress, PreviewReady, StepProgress
from studio.core.grid import Axis, AxisName, GridSpec, LaneChoice, parse_axis, run_order
from studio.core.grid_sheet import grid_parameters, grid_sheet, grid_title
from studio.core.jobs import GridJob, Job, Lane, LaneSpec, PreviewOptions
from studio.core.models import ModelRef
from studio.core.params import ValidationError
from studio.core.pngio import write_png
from studio.core.reels import PreviewKeeper, grid_row_reels
from studio.viewmodels.observable import Observable
from studio.viewmodels.study import StudyViewModel
from studio.viewmodels.study_progress import StudyProgress

NO_AXIS = "none"
AXIS_CHOICES = (*(a.value for a in AxisName), NO_AXIS)
DEFAULT_VALUES = {
    AxisName.sampler.value: "DDIM trailing, Euler, DPM++ 2M, UniPC",
    AxisName.steps.value: "2, 4, 8, 16",
    AxisName.guidance.value: "1, 2, 3, 5",
    AxisName.eta.value: "0, 0.5, 1",
    AxisName.skip_top.value: "1, 0.95, 0.9",
    AxisName.skip_bottom.value: "1, 0.9, 0.8",
    AxisName.model.value: "emoji-teacher",
    AxisName.lane.value: "teacher, student",
    NO_AXIS: "",
}


class GridViewModel(StudyViewModel):
    """Builds grid jobs from its axes and the session's lanes, and keeps the streamed cells
    (with each cell's step previews, bounded, when the grid ran with previews, for a row's
    animation).

    Observable: `x_axis`, `x_values`, `y_axis` (may be "none"), `y_values`. The `lane` axis
    takes the session's teacher and student recipes; its values text is ignored. Grids ask
    for the previews `previews()` gives (the session's interval and decoder; none without it).
    """

    xAxisChanged = Signal(str)
    xValuesChanged = Signal(str)
    yAxisChanged = Signal(str)
    yValuesChanged = Signal(str)
    gridStarted = Signal()
    cellFinished = Signal(int, int)

    x_axis = Observable(str)
    x_values = Observable(str)
    y_axis = Observable(str)
    y_values = Observable(str)

    def __init__(
        self,
        submit: Callable[[Job], bool],
        lane_spec: Callable[[Lane], LaneSpec],
        resolve_model: Callable[[str], ModelRef],
        parent: QObject | None = None,
        previews: Callable[[], PreviewOptions] | None = None,
    ) -> None:
        super().__init__(submit, lane_spec, parent)
        self._resolve_model = resolve_model
        self._previews = previews or (lambda: PreviewOptions(every=0))
        self._x_axis, self._x_values = "sampler", DEFAULT_VALUES["sampler"]
        self._y_axis, self._y_values = "steps", DEFAULT_VALUES["steps"]
        self.progress = StudyProgress("Cell", self)
        self.grid: GridSpec | None = None
        self.base: LaneSpec | None = None
        self.cells: dict[tuple[int, int], GridCellFinished] = {}
        self.previews: dict[tuple[int, int], PreviewKeeper] = {}
        self.running: tuple[int, int] | None = None
        self._order: list[tuple[int, int]] = []

    def _changed(self, name: str) -> None:
        if name in ("x_axis", "y_axis"):
            axis = self.x_axis if name == "x_axis" else self.y_axis
            values = DEFAULT_VALUES.get(axis, "")
            if name == "x_axis":
                self.x_values = values
            else:
                self.y_values = values

    # --- building ------------------------------------------------------------------------------

    def build(self) -> GridJob:
        """The grid job for the current axes; ValidationError listing what is wrong."""
        try:
            base = self._lane_spec(Lane.teacher)
            x = self._axis(self.x_axis, self.x_values)
            y = None if self.y_axis == NO_AXIS else self._axis(self.y_axis, self.y_values)
        except ValueError as exc:
            problems = exc.problems if isinstance(exc, ValidationError) else (str(exc),)
            raise ValidationError(list(problems)) from None
        grid = GridSpec(x=x, y=y)
        found = grid.problems()
        if found:
            raise ValidationError(found)
        return GridJob(base=base, grid=grid, previews=self._previews())

    def _axis(self, name: str, values: str) -> Axis:
        if name == AxisName.lane.value:
            lanes = (Lane.teacher, Lane.student)
            choices = []
            for lane in lanes:
                spec = self._lane_spec(lane)
                choices.append(
                    LaneChoice(name=lane.value.capitalize(), model=spec.model, params=spec.params)
                )
            return Axis(name=AxisName.lane, values=tuple(choices))
        return parse_axis(f"{name}={values}", resolve_model=self._resolve_model)

    # --- events --------------------------------------------------------------------------------

    def begin(self, job: GridJob) -> None:
        self.job_id = job.job_id
        self.grid, self.base = job.grid, job.base
        self.cells = {}
        self.previews = {}
        self.running = None
        self._order = [(cell.x, cell.y) for cell in run_order(job.cells())]
        self.progress.begin(job.job_id, job.grid.size)
        self.gridStarted.emit()

    def handle(self, event: Event) -> None:
        if event.job_id != self.job_id:
            return
        match event:
            case JobProgress(done=done):
                self.running = self._order[done] if done < len(self._order) else None
                self.progress.on_progress(event)
            case StepProgress():
                self.progress.on_step(event)
            case PreviewReady(cell=(x, y)):
                self._keep_preview((x, y), event)
            case GridCellFinished(x=x, y=y):
                self.cells[(x, y)] = event
                self.running = None
                self.progress.finish_one()
                self.cellFinished.emit(x, y)

    def end(self, job_id: str, status: str) -> None:
        if job_id == self.job_id:
            self.running = None
        self.progress.end(job_id, status)

    def cell(self, x: int, y: int) -> GridCellFinished | None:
        return self.cells.get((x, y))

    def _keep_preview(self, cell: tuple[int, int], event: PreviewReady) -> None:
        """Keep a bounded, downscaled copy of a cell's preview (its predicted clean image when
        there is one)."""
        image = event.x0 if event.x0 is not None else event.x_t
        self.previews.setdefault(cell, PreviewKeeper()).add(event.step, image)

    # --- animating a row -----------------------------------------------------------------------

    def animated_rows(self) -> list[int]:
        """The rows that can be animated: a finished cell with an image, and kept step
        previews of one of its cells."""
        rows = {y for (x, y), cell in self.cells.items() if cell.image is not None}
        return sorted(y for y in rows if any(row == y for _, row in self.previews))

    @property
    def can_animate(self) -> bool:
        return bool(self.animated_rows())

    def row_label(self, y: int) -> str:
        """How the row is named in a chooser: "Row 2: 8 steps" (just "Row 1" without a y axis)."""
        axis = self.grid.y if self.grid is not None else None
        if axis is None or not 0 <= y < len(axis):
            return f"Row {y + 1}"
        return f"Row {y + 1}: {axis.labels()[y]}"

    def export_row_animation(self, path: Path, y: int, timing: Timing | None = None) -> Path:
        """Write row `y` of the last grid, its cells forming side by side from their kept
        previews, each on its own clock, as an animation (format by the suffix); ValueError or
        OSError say why not."""
        if y not in self.animated_rows():
            raise ValueError("run a grid with previews on first: this row has nothing to animate")
        cells = [cell for (_, row), cell in self.cells.items() if row == y]
        kept = {cell: keeper.frames for cell, keeper in self.previews.items()}
        return write_animation(path, grid_row_reels(cells, kept), timing or Timing())

    # --- exporting -----------------------------------------------------------------------------

    def sheet(self) -> np.ndarray | None:
        """The last grid as one labelled picture (cells still missing are grey); None before
        any grid ran."""
        if self.grid is None or self.base is None:
            return None
        model = self.base.model.display_name
        title = grid_title(model, self.base.params, self.grid)
        return grid_sheet(self.grid, list(self.cells.values()), title)

    def export_png(self, path: Path) -> Path:
        """Write the sheet as a PNG atomically, the base recipe and axes in its parameters;
        ValueError before any grid ran, OSError or MetadataError when it cannot be written."""
        picture = self.sheet()
        if picture is None or self.grid is None or self.base is None:
            raise ValueError("Run a grid first: there is nothing to export yet.")
        model = self.base.model.display_name
        return write_png(path, picture, grid_parameters(self.base.params, model, self.grid))
