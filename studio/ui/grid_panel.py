"""The Grid tab: two axis pickers, Run, a progress line, and the grid view filling in."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from studio.core.events import GridCellFinished
from studio.core.grid import AxisName
from studio.core.metrics import psnr, ssim
from studio.ui.binding import Binding, bind_combo_data
from studio.ui.grid_view import GridView
from studio.viewmodels.grid import AXIS_CHOICES, NO_AXIS, GridViewModel

AXIS_TITLES = {
    AxisName.sampler.value: "Sampler",
    AxisName.steps.value: "Steps",
    AxisName.guidance.value: "Guidance (CFG)",
    AxisName.eta.value: "Eta",
    AxisName.skip_top.value: "Skip-Tuning top",
    AxisName.skip_bottom.value: "Skip-Tuning bottom",
    AxisName.model.value: "Model",
    AxisName.lane.value: "Lane (teacher, student)",
    NO_AXIS: "None (one row)",
}
HINT = (
    "Each cell runs the teacher recipe, prompt and seed from the same starting noise, changing "
    "only the axis values. Click a cell to open it in the comparison view against the pinned "
    "cell (Shift+click pins one; the first cell is pinned at start)."
)


def cell_pane(cell: GridCellFinished) -> tuple[np.ndarray, str]:
    """A cell as a comparison pane: its image, and its values, time and evaluations."""
    assert cell.image is not None
    return cell.image, f"{cell.label} · {cell.wall_s:.2f} s · {cell.nfe} NFE"


def pair_summary(left: GridCellFinished, right: GridCellFinished) -> str:
    """How the clicked cell compares with the pinned one: similarity and time."""
    if left is right or left.image is None or right.image is None:
        return f"Grid cell {right.label} (Shift+click another cell to compare against it)"
    if left.image.shape != right.image.shape:
        return f"{right.label} vs {left.label}: the images differ in size"
    ratio = left.wall_s / right.wall_s if right.wall_s > 0 else float("inf")
    speed = f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.1f}x slower"
    return (
        f"{right.label} vs {left.label} · PSNR {psnr(left.image, right.image):.2f} dB · "
        f"SSIM {ssim(left.image, right.image):.3f} · {speed}"
    )


def bind_line(edit: QLineEdit, source: QObject, attr: str, signal) -> Binding:
    return Binding([edit], [edit.textEdited], edit.text, edit.setText, source, attr, signal)


class GridPanel(QWidget):
    """Lets the user pick the grid's axes and run it, and shows its cells as they stream in."""

    runRequested = Signal()
    exportRequested = Signal()

    def __init__(self, grid: GridViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = grid
        self.view = GridView()
        self._build()
        grid.gridStarted.connect(self._on_started)
        grid.cellFinished.connect(self._on_cell)
        grid.progress.changed.connect(self._on_progress)
        grid.progress.runningChanged.connect(self._on_running)
        self._on_progress()

    def _axis_row(self, layout: QGridLayout, row: int, title: str) -> None:
        axis, values = f"{title.lower()}_axis", f"{title.lower()}_values"
        combo = QComboBox()
        for key in AXIS_CHOICES:
            if row == 0 and key == NO_AXIS:
                continue
            combo.addItem(AXIS_TITLES[key], key)
        combo.setObjectName(f"grid{title}Axis")
        edit = QLineEdit()
        edit.setObjectName(f"grid{title}Values")
        edit.setPlaceholderText("values separated by commas")
        edit.returnPressed.connect(self.runRequested)
        layout.addWidget(QLabel(f"{title} axis"), row, 0)
        layout.addWidget(combo, row, 1)
        layout.addWidget(edit, row, 2)
        bind_combo_data(combo, self.vm, axis, getattr(self.vm, f"{title.lower()}AxisChanged"))
        bind_line(edit, self.vm, values, getattr(self.vm, f"{title.lower()}ValuesChanged"))
        setattr(self, f"{title.lower()}_combo", combo)
        setattr(self, f"{title.lower()}_values", edit)

    def _build(self) -> None:
        axes = QGridLayout()
        axes.setColumnStretch(2, 1)
        self._axis_row(axes, 0, "X")
        self._axis_row(axes, 1, "Y")
        self.run_button = QPushButton("Run grid")
        self.run_button.setObjectName("gridRunButton")
        self.run_button.setToolTip("Run every cell of the grid (Ctrl+G)")
        self.run_button.clicked.connect(self.runRequested)
        axes.addWidget(self.run_button, 0, 3, 2, 1)
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("gridProgress")
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setFixedWidth(160)
        self.status = QLabel()
        self.status.setObjectName("gridStatus")
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.export_button = QPushButton("Export grid…")
        self.export_button.setObjectName("gridExportButton")
        self.export_button.setToolTip(
            "Save the whole grid as one labelled PNG (cells not run yet are grey)"
        )
        self.export_button.clicked.connect(self.exportRequested)
        self.export_button.setEnabled(False)
        status_row = QHBoxLayout()
        status_row.addWidget(self.progress_bar)
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.export_button)
        hint = QLabel(HINT)
        hint.setWordWrap(True)
        hint.setObjectName("gridHint")
        scroll = QScrollArea()
        scroll.setObjectName("gridScroll")
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.view)
        column = QVBoxLayout(self)
        column.setContentsMargins(6, 6, 6, 6)
        column.addLayout(axes)
        column.addLayout(status_row)
        column.addWidget(hint)
        column.addWidget(scroll, 1)

    def _on_started(self) -> None:
        self.view.set_grid(self.vm.grid)
        self.export_button.setEnabled(False)

    def _on_cell(self, x: int, y: int) -> None:
        cell = self.vm.cell(x, y)
        if cell is not None:
            self.view.set_cell(cell)
        self.export_button.setEnabled(True)

    def _on_progress(self) -> None:
        progress = self.vm.progress
        self.progress_bar.setValue(round(1000 * progress.fraction()))
        self.status.setText(progress.text())
        self.view.set_running(self.vm.running)

    def _on_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.progress_bar.setVisible(running or self.vm.progress.done > 0)
        if not running:
            self.view.set_running(None)

    def focus_grid(self) -> None:
        self.view.setFocus(Qt.FocusReason.OtherFocusReason)
