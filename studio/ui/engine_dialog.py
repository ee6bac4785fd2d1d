"""File > Engine settings…: the device, CPU offload and model-cache budgets, applied live.

OK sends the options to the engine, which applies them between jobs (dropping the loaded
models) and answers with a sentence for the status line; only then are they saved with the
settings, so options the engine refused (a GPU that is not there) never reach the next start.
"""

from __future__ import annotations

import html
import inspect
import re
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.core.engine_options import (
    MAX_BUDGET_MB,
    MAX_CACHED_MODELS,
    Device,
    EngineOptions,
    Offload,
)
from studio.core.events import EngineConfigured
from studio.viewmodels.session import SessionViewModel
from studio.viewmodels.settings import SettingsViewModel

AUTOMATIC = "Automatic"
BUDGET_STEP_MB = 512
DEVICE_LABELS = {
    Device.auto: "Automatic (CUDA, then Apple GPU, then CPU)",
    Device.cpu: "CPU",
    Device.cuda: "CUDA GPU",
    Device.mps: "Apple GPU (MPS)",
}
OFFLOAD_LABELS = {
    Offload.none: "None: the whole model on the device",
    Offload.model: "Model: one component at a time",
    Offload.sequential: "Sequential: one layer at a time",
}
OFFLOAD_NEEDS = "CPU offload needs a CUDA GPU and the accelerate package; elsewhere it is not used."
APPLY_NOTE = "OK drops the loaded models; each loads again, with these settings, when next used."
BUSY_NOTE = "A job is running: the new settings apply once it and the queued jobs are done."
APPLYING = "Applying the engine settings…"
KEPT = "The engine kept its previous settings; the message above says why."
APPLY_LATER = "Engine settings saved: they apply once the running job and the queue are done."


def offload_help() -> str:
    """The Offload docstring as rich text, with what offload needs."""
    text = html.escape(" ".join((inspect.getdoc(Offload) or "").split()))
    text = re.sub(r"`(\w+)`", lambda m: f"<b>{m.group(1).capitalize()}</b>", text)
    return f"{text} {html.escape(OFFLOAD_NEEDS)}"


def _combo(name: str, labels: dict) -> QComboBox:
    combo = QComboBox()
    combo.setObjectName(name)
    for value, label in labels.items():
        combo.addItem(label, value.value)
    return combo


def _budget_spin(name: str, tip: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setObjectName(name)
    spin.setRange(0, MAX_BUDGET_MB)
    spin.setSingleStep(BUDGET_STEP_MB)
    spin.setSuffix(" MB")
    spin.setSpecialValueText(AUTOMATIC)
    spin.setGroupSeparatorShown(True)
    spin.setToolTip(tip)
    return spin


class EngineSettingsDialog(QDialog):
    """Shows one `EngineOptions` as fields and reads the fields back as one."""

    def __init__(
        self, options: EngineOptions, *, busy: bool = False, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("engineSettingsDialog")
        self.setWindowTitle("Engine settings")
        self.device = _combo("engineDevice", DEVICE_LABELS)
        self.offload = _combo("engineOffload", OFFLOAD_LABELS)
        self.offload_help = self._note("offloadHelp", offload_help())
        self.offload.setToolTip(self.offload_help.text())
        self.ram_budget = _budget_spin(
            "ramBudget", f"Model weights kept in RAM; {AUTOMATIC} (0) is half of the RAM"
        )
        self.gpu_budget = _budget_spin(
            "gpuBudget", f"Model weights kept on the GPU; {AUTOMATIC} (0) is 70% of its memory"
        )
        self.max_models = QSpinBox()
        self.max_models.setObjectName("maxModels")
        self.max_models.setRange(1, MAX_CACHED_MODELS)
        self.max_models.setToolTip("How many models stay loaded; the least recently used goes")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self._layout(busy)
        self.set_options(options)

    def _note(self, name: str, text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName(name)
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setMinimumWidth(420)
        return label

    def _layout(self, busy: bool) -> None:
        form = QFormLayout()
        form.addRow("&Device:", self.device)
        form.addRow("CPU &offload:", self.offload)
        form.addRow("", self.offload_help)
        form.addRow("&RAM budget:", self.ram_budget)
        form.addRow("&GPU budget:", self.gpu_budget)
        form.addRow("&Models kept loaded:", self.max_models)
        column = QVBoxLayout(self)
        column.addLayout(form)
        column.addWidget(self._note("applyNote", html.escape(APPLY_NOTE)))
        if busy:
            column.addWidget(self._note("busyNote", f"<b>{html.escape(BUSY_NOTE)}</b>"))
        column.addWidget(self.buttons)

    def set_options(self, options: EngineOptions) -> None:
        self.device.setCurrentIndex(self.device.findData(Device(options.device).value))
        self.offload.setCurrentIndex(self.offload.findData(Offload(options.offload).value))
        self.ram_budget.setValue(options.ram_budget_mb)
        self.gpu_budget.setValue(options.gpu_budget_mb)
        self.max_models.setValue(options.max_models)

    def options(self) -> EngineOptions:
        return EngineOptions(
            device=Device(self.device.currentData()),
            offload=Offload(self.offload.currentData()),
            ram_budget_mb=self.ram_budget.value(),
            gpu_budget_mb=self.gpu_budget.value(),
            max_models=self.max_models.value(),
        )


class EngineSettingsMenu(QObject):
    """Opens the dialog from its action; OK saves the options with the settings and sends them
    to the engine, and the engine's answer goes to the status line. Cancel changes nothing."""

    def __init__(
        self,
        action: QAction,
        session: SessionViewModel,
        settings: SettingsViewModel,
        save: Callable[[], None],
        set_status: Callable[[str], None],
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.session, self.settings = session, settings
        self._save, self._set_status, self._parent = save, set_status, parent
        self._pending = False
        action.triggered.connect(self.open)
        session.engineConfigured.connect(self._applied)
        session.error.connect(self._refused)

    def open(self) -> EngineSettingsDialog:
        """Show the dialog (window-modal, without blocking); it deletes itself when closed."""
        dialog = EngineSettingsDialog(
            self.settings.engine, busy=self.session.busy, parent=self._parent
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.apply(dialog.options()))
        dialog.open()
        return dialog

    def apply(self, options: EngineOptions) -> bool:
        """Send `options` to the engine (saved once it has applied them); whether they were sent."""
        if not self.session.configure_engine(options):
            return False
        self._pending = True
        self._set_status(APPLY_LATER if self.session.busy else APPLYING)
        return True

    def _refused(self, _message: str) -> None:
        """An error while settings were on their way: the engine kept its old ones (the banner
        says why), so the status line must stop saying they are being applied."""
        if self._pending:
            self._pending = False
            self._set_status(KEPT)

    def _applied(self, event: EngineConfigured) -> None:
        """The engine took the settings: say so and keep them (refused ones are never saved)."""
        self._pending = False
        self._set_status(event.summary)
        self.settings.engine = event.options
        self._save()
