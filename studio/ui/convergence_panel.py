"""The Convergence tab: which samplers and step counts, Run, the plot, and its CSV."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.convergence import MAX_CASES, REFERENCE_SAMPLER
from studio.core.convergence_estimate import ConvergenceEstimate
from studio.core.params import MAX_STEPS
from studio.ui.binding import bind_check, bind_spin
from studio.ui.comparison import SEGMENT_STYLE
from studio.ui.convergence_plot import ConvergencePlot
from studio.ui.grid_panel import bind_line
from studio.viewmodels.convergence import METRIC_KEYS, ConvergenceViewModel

METRIC_LABELS = {"psnr": "PSNR", "agreement": "Classifier agreement"}
HINT = (
    "Each deterministic sampler at each step count, against a {ref} reference from the same "
    "prompt, seed and starting noise. NFE counts calls to the denoiser (with CFG each call runs "
    "both branches as one batch of two). Hover a point for its numbers."
)


class ConvergencePanel(QWidget):
    """Lets the user choose samplers and step counts, says what a run will cost, asks before a
    long one, runs the curves, and plots them live."""

    runRequested = Signal()

    def __init__(self, convergence: ConvergenceViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = convergence
        self.plot = ConvergencePlot()
        self._build()
        convergence.pointsChanged.connect(self._on_points)
        convergence.metricChanged.connect(self._on_metric)
        convergence.progress.changed.connect(self._on_progress)
        convergence.progress.runningChanged.connect(self._on_running)
        for changed in (
            convergence.samplersChanged,
            convergence.stepsChanged,
            convergence.casesChanged,
            convergence.referenceStepsChanged,
            convergence.withStudentChanged,
        ):
            changed.connect(self.refresh_estimate)
        self._on_metric(convergence.metric)
        self._on_points()
        self._on_progress()
        self.refresh_estimate()

    def _build(self) -> None:
        self.samplers_edit = QLineEdit()
        self.samplers_edit.setObjectName("convergenceSamplers")
        self.samplers_edit.setPlaceholderText("all deterministic samplers that fit the model")
        self.steps_edit = QLineEdit()
        self.steps_edit.setObjectName("convergenceSteps")
        self.cases_spin = QSpinBox(minimum=1, maximum=MAX_CASES)
        self.cases_spin.setObjectName("convergenceCases")
        self.cases_spin.setToolTip("Seeds to average over, from the session's seed on")
        self.reference_spin = QSpinBox(minimum=10, maximum=MAX_STEPS)
        self.reference_spin.setObjectName("convergenceReferenceSteps")
        self.student_check = QCheckBox("Student lane beside")
        self.student_check.setObjectName("convergenceWithStudent")
        self.student_check.setToolTip(
            "Also draw the student lane's model with its own sampler and CFG, from the same "
            "noise, against the same references (a shortcut model: its powers of two)"
        )
        for edit in (self.samplers_edit, self.steps_edit):
            edit.returnPressed.connect(self.runRequested)
        bind_line(self.samplers_edit, self.vm, "samplers", self.vm.samplersChanged)
        bind_line(self.steps_edit, self.vm, "steps", self.vm.stepsChanged)
        bind_spin(self.cases_spin, self.vm, "cases", self.vm.casesChanged)
        bind_spin(self.reference_spin, self.vm, "reference_steps", self.vm.referenceStepsChanged)
        bind_check(self.student_check, self.vm, "with_student", self.vm.withStudentChanged)
        form = QGridLayout()
        form.setColumnStretch(1, 1)
        form.addWidget(QLabel("Samplers"), 0, 0)
        form.addWidget(self.samplers_edit, 0, 1, 1, 3)
        form.addWidget(QLabel("Steps"), 1, 0)
        form.addWidget(self.steps_edit, 1, 1)
        form.addWidget(QLabel("Seeds"), 1, 2)
        form.addWidget(self.cases_spin, 1, 3)
        form.addWidget(self.student_check, 2, 1)
        form.addWidget(QLabel(f"Reference ({REFERENCE_SAMPLER}) steps"), 2, 2)
        form.addWidget(self.reference_spin, 2, 3)
        form.addWidget(self._buttons(), 0, 4, 3, 1)
        column = QVBoxLayout(self)
        column.setContentsMargins(6, 6, 6, 6)
        column.addLayout(form)
        self.estimate_label = QLabel()
        self.estimate_label.setObjectName("convergenceEstimate")
        self.estimate_label.setWordWrap(True)
        column.addWidget(self.estimate_label)
        column.addLayout(self._status_row())
        hint = QLabel(HINT.format(ref=REFERENCE_SAMPLER))
        hint.setWordWrap(True)
        column.addWidget(hint)
        column.addWidget(self.plot, 1)

    def _buttons(self) -> QWidget:
        box = QWidget()
        stack = QVBoxLayout(box)
        stack.setContentsMargins(0, 0, 0, 0)
        self.run_button = QPushButton("Run curves")
        self.run_button.setObjectName("convergenceRunButton")
        self.run_button.setToolTip("Measure every sampler at every step count (Ctrl+Shift+G)")
        self.run_button.clicked.connect(self.runRequested)
        self.save_button = QPushButton("Save CSV…")
        self.save_button.setObjectName("convergenceSaveCsv")
        self.save_button.clicked.connect(self.choose_save)
        self.open_button = QPushButton("Open CSV…")
        self.open_button.setObjectName("convergenceOpenCsv")
        self.open_button.setToolTip("Show the curves of a CSV written by `studio converge`")
        self.open_button.clicked.connect(self.choose_open)
        for button in (self.run_button, self.save_button, self.open_button):
            stack.addWidget(button)
        return box

    def _status_row(self) -> QHBoxLayout:
        self.metric_buttons: dict[str, QToolButton] = {}
        group = QButtonGroup(self)
        segments = QWidget()
        segments.setObjectName("convergenceMetric")
        segments.setStyleSheet(SEGMENT_STYLE)
        row = QHBoxLayout(segments)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        for index, key in enumerate(METRIC_KEYS):
            button = QToolButton()
            button.setText(METRIC_LABELS[key])
            button.setCheckable(True)
            button.setObjectName("segmentFirst" if index == 0 else "segmentLast")
            button.clicked.connect(lambda _=False, k=key: setattr(self.vm, "metric", k))
            group.addButton(button)
            self.metric_buttons[key] = button
            row.addWidget(button)
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("convergenceProgress")
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setFixedWidth(160)
        self.status = QLabel()
        self.status.setObjectName("convergenceStatus")
        self.summary = QLabel()
        self.summary.setObjectName("convergenceSummary")
        for label in (self.status, self.summary):
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        status = QHBoxLayout()
        status.addWidget(segments)
        status.addSpacing(12)
        status.addWidget(self.progress_bar)
        status.addWidget(self.status, 1)
        status.addWidget(self.summary, 2)
        return status

    def refresh_estimate(self, *_: object) -> ConvergenceEstimate | None:
        """Say how many runs the current choices queue and about how long they take."""
        estimate = self.vm.estimate()
        text = estimate.text() if estimate is not None else ""
        self.estimate_label.setText(text)
        self.estimate_label.setVisible(bool(text))
        return estimate

    def confirm_run(self) -> bool:
        """Whether to queue the run: yes for a short one, the user's answer for a long one
        (many runs or minutes). Choices that cannot run pass, to be refused with their reason."""
        estimate = self.refresh_estimate()
        if estimate is None or not estimate.needs_confirmation:
            return True
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self,
            "Run convergence curves",
            f"This queues {estimate.runs_text()}, {estimate.time_text()}.\n\n"
            "Fewer samplers, step counts or seeds, or a shorter reference, make it quicker.",
            buttons.Ok | buttons.Cancel,
            buttons.Cancel,
        )
        return answer == buttons.Ok

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh_estimate()

    def choose_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the curves", "curve.csv", "CSV (*.csv)")
        if path:
            self.vm.save_csv(Path(path))

    def choose_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open curves", "", "CSV (*.csv)")
        if path:
            self.vm.load_csv(Path(path))

    def _on_points(self) -> None:
        self.plot.set_title(self.vm.title)
        self.plot.set_points(self.vm.points)
        self.summary.setText(self.vm.summary())
        self.summary.setToolTip(self.vm.summary())
        self.save_button.setEnabled(bool(self.vm.points))

    def _on_metric(self, key: str) -> None:
        self.metric_buttons[key].setChecked(True)
        self.plot.set_metric(key)

    def _on_progress(self) -> None:
        progress = self.vm.progress
        self.progress_bar.setValue(round(1000 * progress.fraction()))
        self.status.setText(progress.text())

    def _on_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.progress_bar.setVisible(running or bool(self.vm.points))
