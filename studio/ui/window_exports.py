"""The window's export actions: Copy image and Save image as… for the Compare panes (their
context menus and the File menu), Export comparison… (an animation of the last comparison),
Export grid… (the Grid tab's button and the File menu) and Export grid row animation… (one
row of the last grid forming step by step)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QInputDialog, QWidget

from studio.core.animation import FORMATS, writable_suffixes
from studio.ui.actions import WindowActions
from studio.ui.comparison import ComparisonWidget
from studio.ui.grid_panel import GridPanel
from studio.ui.image_export import SAVE_ERRORS, ask_png_path, save_failure, write_image_png
from studio.ui.image_view import ImageView
from studio.viewmodels.session import SessionViewModel

PANE_NAMES = {
    "teacherPane": "teacher",
    "studentPane": "student",
    "swipePane": "swipe",
    "differencePane": "difference",
}
ANIMATION_FILTERS = {
    "Animated WebP (*.webp)": ".webp",
    "Animated GIF (*.gif)": ".gif",
    "MP4 video (*.mp4)": ".mp4",
}


def animation_filters() -> dict[str, str]:
    """The Save dialog's filters for the formats writable here (MP4 only with PyAV)."""
    writable = writable_suffixes()
    return {name: suffix for name, suffix in ANIMATION_FILTERS.items() if suffix in writable}


def ask_animation_path(parent: QWidget, suggested: Path, title: str) -> Path | None:
    """The .webp, .gif or .mp4 path chosen in a Save dialog titled `title` (which offers MP4
    only where it can be written); a name without one of those suffixes gets the chosen
    filter's. None when cancelled."""
    chosen, picked = QFileDialog.getSaveFileName(
        parent, title, str(suggested), ";;".join(animation_filters())
    )
    if not chosen:
        return None
    path = Path(chosen)
    if path.suffix.lower() in FORMATS:
        return path
    return path.with_name(path.name + ANIMATION_FILTERS.get(picked, ".webp"))


class WindowExports(QObject):
    """Copies and saves what the panes show and exports the grid sheet. Save dialogs open in
    the folder last saved into, else the output folder; a pane's image that is also in the
    gallery keeps its generation parameters in the copy."""

    def __init__(
        self,
        window: QWidget,
        session: SessionViewModel,
        comparison: ComparisonWidget,
        grid_panel: GridPanel,
        actions: WindowActions,
        status: Callable[[str], None],
        error: Callable[[str], None],
    ) -> None:
        super().__init__(window)
        self.window, self.session = window, session
        self.comparison, self.grid_panel = comparison, grid_panel
        self._status, self._error = status, error
        self.last_folder: Path | None = None
        for view in comparison.views():
            view.saveRequested.connect(partial(self.save_image_as, view))
        actions.save_image.triggered.connect(lambda: self.save_image_as())
        actions.copy_image.triggered.connect(lambda: self.copy_image())
        actions.export_grid.triggered.connect(self.export_grid)
        actions.export_comparison.triggered.connect(self.export_comparison)
        enable = actions.export_comparison.setEnabled
        session.comparison.changed.connect(lambda: enable(session.comparison.can_animate))
        grid_panel.exportRequested.connect(self.export_grid)
        actions.export_grid_row.triggered.connect(self.export_grid_row)
        enable_row = actions.export_grid_row.setEnabled
        for signal in (session.grid.gridStarted, session.grid.cellFinished):
            signal.connect(lambda *_: enable_row(session.grid.can_animate))

    def target_view(self) -> ImageView:
        """The pane with the keyboard focus, else the teacher pane."""
        for view in self.comparison.views():
            if view.isVisible() and view.hasFocus():
                return view
        return self.comparison.teacher_view

    def _folder(self) -> Path:
        return self.last_folder or self.session.gallery.store.folder

    def copy_image(self, view: ImageView | None = None) -> bool:
        """Put the pane's picture (default: `target_view`) on the clipboard at full size."""
        view = view or self.target_view()
        name = PANE_NAMES.get(view.objectName(), "shown")
        if not view.copy_image():
            self._error(f"There is no {name} image to copy yet.")
            return False
        width, height = view.image_size()
        self._status(f"Copied the {name} image ({width}x{height}) to the clipboard.")
        return True

    def save_image_as(self, view: ImageView | None = None) -> Path | None:
        """Ask where, then write the pane's picture as a PNG: with the gallery image's
        parameters when the gallery holds the same pixels, else a plain PNG."""
        view = view or self.target_view()
        image = view.image_array()
        if image is None:
            name = PANE_NAMES.get(view.objectName(), "shown")
            self._error(f"There is no {name} image to save yet.")
            return None
        lanes = (self.comparison.teacher_view, self.comparison.student_view)
        source = self.session.gallery.source_of(image) if view in lanes else None
        suggested = self._folder() / (source.path.name if source is not None else "image.png")
        path = ask_png_path(self.window, "Save the image as", suggested)
        if path is None:
            return None
        parameters = source.parameters if source is not None else ""
        written = self._write(path, lambda: write_image_png(path, image, parameters))
        if written is not None:
            kept = "with its parameters" if parameters else "a plain PNG: not from the gallery"
            self._status(f"Saved {written.name} ({kept}).")
        return written

    def export_grid(self) -> Path | None:
        """Ask where, then write the last grid as one labelled PNG."""
        grid = self.session.grid
        if grid.grid is None or grid.base is None or not grid.cells:
            self._error("Run a grid first: there is no grid to export yet.")
            return None
        suggested = self._folder() / f"grid-{grid.base.params.seed}.png"
        path = ask_png_path(self.window, "Export the grid as", suggested)
        if path is None:
            return None
        written = self._write(path, lambda: grid.export_png(path))
        if written is not None:
            self._status(f"Exported the grid to {written}.")
        return written

    def export_comparison(self) -> Path | None:
        """Ask where, then write the last comparison as an animated WebP or GIF, or an MP4."""
        comparison = self.session.comparison
        if not comparison.can_animate:
            self._error("Run a comparison with previews on first: there is nothing to animate.")
            return None
        params = self.session.teacher.result_params
        seed = params.seed if params is not None else self.session.seed
        path = ask_animation_path(
            self.window, self._folder() / f"compare-{seed}.webp", "Export the comparison as"
        )
        if path is None:
            return None
        written = self._write(path, lambda: comparison.export_animation(path))
        if written is not None:
            self._status(f"Exported the comparison animation to {written}.")
        return written

    def export_grid_row(self) -> Path | None:
        """Ask which row (when several can be animated) and where, then write that row of the
        last grid forming step by step as an animation."""
        grid = self.session.grid
        rows = grid.animated_rows()
        if not rows or grid.base is None:
            self._error("Run a grid with previews on first: there is no grid row to animate.")
            return None
        row = self._ask_row(rows) if len(rows) > 1 else rows[0]
        if row is None:
            return None
        suggested = self._folder() / f"grid-{grid.base.params.seed}-row{row + 1}.webp"
        title = f"Export the grid row animation ({grid.row_label(row)}) as"
        path = ask_animation_path(self.window, suggested, title)
        if path is None:
            return None
        written = self._write(path, lambda: grid.export_row_animation(path, row))
        if written is not None:
            label = grid.row_label(row)
            self._status(f"Exported the grid row animation ({label}) to {written}.")
        return written

    def _ask_row(self, rows: list[int]) -> int | None:
        """The row picked in a list of the animatable rows' labels; None when cancelled."""
        labels = [self.session.grid.row_label(row) for row in rows]
        picked, ok = QInputDialog.getItem(
            self.window, "Export grid row animation", "Which row?", labels, 0, False
        )
        return rows[labels.index(picked)] if ok and picked in labels else None

    def _write(self, path: Path, write: Callable[[], Path]) -> Path | None:
        try:
            written = write()
        except SAVE_ERRORS as exc:
            self._error(save_failure(path, exc))
            return None
        self.last_folder = written.parent
        return written
