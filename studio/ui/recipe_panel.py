"""One lane's recipe controls (sampler, steps, CFG, eta, schedule, Skip-Tuning) and warnings."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QPalette, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
)

from studio.core.model_kinds import ModelFacts
from studio.core.params import (
    MAX_CLASSIFIER_SCALE,
    MAX_GUIDANCE,
    ScheduleOptions,
    Sigmas,
    Spacing,
)
from studio.core.presets import RecipePreset
from studio.core.samplers import SAMPLERS, SamplerSpec, find_sampler
from studio.core.skip_tuning import SKIP_MAX, SKIP_MIN, SkipTuning
from studio.ui.binding import Binding, bind_combo_text, bind_spin
from studio.ui.steps_spin import StepsSpin
from studio.viewmodels.lane import LaneViewModel

MESSAGE_STYLE = (
    "QLabel { background: #fff4d6; color: #4d3a00; border: 1px solid #e0b050;"
    " border-radius: 4px; padding: 4px 6px; }"
)
ETA_SAMPLERS = ", ".join(spec.name for spec in SAMPLERS if spec.uses_eta)
GAMMA_TABLE_NOTE = (
    "Its first run on a model estimates that model's analytic variance (Gamma) table, which"
    " takes a few minutes on a CPU; later runs reuse the table."
)


AMED_NOTE = (
    "Its first run on a model at a step count trains that model's AMED predictor (a few minutes"
    " on a CPU, with progress); later runs reuse it. Steps count model evaluations, at least 3."
)


def first_run_note(spec: SamplerSpec) -> str:
    """What the sampler's first run on a model costs, or "" when nothing."""
    if spec.needs_gamma_table:
        return GAMMA_TABLE_NOTE
    return AMED_NOTE if spec.needs_predictor else ""


def sampler_tip(spec: SamplerSpec) -> str:
    """The sampler's one-line summary, and what its first run on a model costs."""
    note = first_run_note(spec)
    return f"{spec.summary}\n{note}" if note else spec.summary


def _combo(name: str, items: list[str], tips: dict[str, str] | None = None) -> QComboBox:
    combo = QComboBox()
    combo.setObjectName(name)
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(6)
    for item in items:
        combo.addItem(item, item)
        if tips and item in tips:
            combo.setItemData(combo.count() - 1, tips[item], Qt.ItemDataRole.ToolTipRole)
    return combo


class LaneRecipePanel(QGroupBox):
    """Edits one lane's recipe and shows why it would fail or disappoint."""

    def __init__(
        self,
        lane: LaneViewModel,
        prefix: str,
        title: str,
        presets: tuple[RecipePreset, ...],
    ) -> None:
        super().__init__(title)
        self.lane = lane
        self.presets = presets
        self.setObjectName(f"{prefix}Recipe")
        self._build(prefix)
        self._bind()
        self._layout()

    def _build(self, prefix: str) -> None:
        self.model_label = QLabel()
        self.model_label.setObjectName(f"{prefix}ModelLabel")
        self.model_label.setWordWrap(True)
        self.preset_combo = _combo(f"{prefix}Preset", ["Apply a preset…"])
        for preset in self.presets:
            self.preset_combo.addItem(preset.name, preset.name)
        tips = {spec.name: sampler_tip(spec) for spec in SAMPLERS}
        self.sampler_combo = _combo(f"{prefix}Sampler", [spec.name for spec in SAMPLERS], tips)
        self.sampler_note = QLabel(GAMMA_TABLE_NOTE)
        self.sampler_note.setObjectName(f"{prefix}SamplerNote")
        self.sampler_note.setWordWrap(True)
        self.sampler_note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.sampler_note.hide()
        self.steps_spin = StepsSpin()
        self.steps_spin.setObjectName(f"{prefix}Steps")
        self.guidance_spin = self._float_spin(f"{prefix}Guidance", MAX_GUIDANCE, 0.5)
        self.guidance_spin.setToolTip("Classifier-free guidance scale; 1 or less turns it off")
        self.eta_spin = self._float_spin(f"{prefix}Eta", 1.0, 0.1)
        self.classifier_spin = self._float_spin(f"{prefix}Classifier", MAX_CLASSIFIER_SCALE, 0.5)
        self.classifier_spin.setToolTip(
            "Classifier guidance scale (embedded emoji models): pushes each step toward the"
            " prompt's Unicode subgroup with a noise-aware classifier; 0 turns it off"
        )
        self.sigmas_combo = _combo(f"{prefix}Sigmas", [s.value for s in Sigmas])
        self.sigmas_combo.setToolTip("Noise levels of sigma-based samplers")
        self.spacing_combo = _combo(f"{prefix}Spacing", [s.value for s in Spacing])
        self.spacing_combo.setToolTip("How timesteps are picked from the training range")
        self.zero_snr_box = QCheckBox("zero SNR")
        self.zero_snr_box.setObjectName(f"{prefix}ZeroSnr")
        self.zero_snr_box.setToolTip("Rescale the schedule to zero terminal SNR")
        self.skip_top_spin = self._skip_spin(f"{prefix}SkipTop", "outermost (full-resolution)")
        self.skip_bottom_spin = self._skip_spin(
            f"{prefix}SkipBottom", "innermost (lowest-resolution)"
        )
        self.messages_label = QLabel()
        self.messages_label.setObjectName(f"{prefix}Messages")
        self.messages_label.setWordWrap(True)
        self.messages_label.setStyleSheet(MESSAGE_STYLE)
        self.messages_label.hide()

    @staticmethod
    def _float_spin(name: str, maximum: float, step: float) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setObjectName(name)
        spin.setRange(0.0, maximum)
        spin.setSingleStep(step)
        spin.setDecimals(2)
        return spin

    @staticmethod
    def _skip_spin(name: str, level: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setObjectName(name)
        spin.setRange(SKIP_MIN, SKIP_MAX)
        spin.setSingleStep(0.05)
        spin.setDecimals(2)
        spin.setValue(1.0)
        spin.setToolTip(
            f"Skip-Tuning: scale the UNet's {level} skip connections (levels in between are"
            " interpolated). 1 leaves the model untouched; the paper uses a little below 1 at"
            " the bottom for few-step samplers."
        )
        return spin

    def _bind(self) -> None:
        lane = self.lane
        self.bindings = [
            bind_combo_text(self.sampler_combo, lane, "sampler", lane.samplerChanged),
            bind_spin(self.steps_spin, lane, "num_inference_steps", lane.numInferenceStepsChanged),
            bind_spin(self.guidance_spin, lane, "guidance_scale", lane.guidanceScaleChanged),
            bind_spin(self.eta_spin, lane, "eta", lane.etaChanged),
            bind_spin(self.classifier_spin, lane, "classifier_scale", lane.classifierScaleChanged),
            self._bind_schedule(),
            self._bind_skip_tuning(),
        ]
        self.preset_combo.activated.connect(self._apply_preset)
        lane.samplerChanged.connect(self._sampler_changed)
        lane.stepCountsChanged.connect(self.steps_spin.set_allowed)
        lane.modelFactsChanged.connect(self._show_fits)
        self._show_fits(lane.model_facts)
        self.steps_spin.set_allowed(lane.step_counts)
        lane.messagesChanged.connect(self.show_messages)
        self._sampler_changed(lane.sampler)
        self.show_messages(lane.messages)

    def _bind_schedule(self) -> Binding:
        widgets = [self.sigmas_combo, self.spacing_combo, self.zero_snr_box]
        signals = [
            self.sigmas_combo.currentIndexChanged,
            self.spacing_combo.currentIndexChanged,
            self.zero_snr_box.toggled,
        ]
        return Binding(
            widgets,
            signals,
            self._schedule_shown,
            self._show_schedule,
            self.lane,
            "schedule",
            self.lane.scheduleChanged,
        )

    def _bind_skip_tuning(self) -> Binding:
        spins = [self.skip_top_spin, self.skip_bottom_spin]
        return Binding(
            spins,
            [spin.valueChanged for spin in spins],
            self._skip_tuning_shown,
            self._show_skip_tuning,
            self.lane,
            "skip_tuning",
            self.lane.skipTuningChanged,
        )

    def _skip_tuning_shown(self) -> SkipTuning:
        return SkipTuning(
            rho_top=float(self.skip_top_spin.value()),
            rho_bottom=float(self.skip_bottom_spin.value()),
        )

    def _show_skip_tuning(self, skip_tuning: SkipTuning) -> None:
        self.skip_top_spin.setValue(skip_tuning.rho_top)
        self.skip_bottom_spin.setValue(skip_tuning.rho_bottom)

    def _schedule_shown(self) -> ScheduleOptions:
        return ScheduleOptions(
            sigmas=Sigmas(self.sigmas_combo.currentData()),
            spacing=Spacing(self.spacing_combo.currentData()),
            rescale_zero_snr=self.zero_snr_box.isChecked(),
        )

    def _show_schedule(self, schedule: ScheduleOptions) -> None:
        self.sigmas_combo.setCurrentIndex(self.sigmas_combo.findData(str(schedule.sigmas)))
        self.spacing_combo.setCurrentIndex(self.spacing_combo.findData(str(schedule.spacing)))
        self.zero_snr_box.setChecked(schedule.rescale_zero_snr)

    def _layout(self) -> None:
        grid = QGridLayout(self)
        grid.setContentsMargins(8, 6, 8, 8)
        grid.setVerticalSpacing(4)
        grid.addWidget(self.model_label, 0, 0, 1, 4)
        grid.addWidget(QLabel("Preset"), 1, 0)
        grid.addWidget(self.preset_combo, 1, 1, 1, 3)
        grid.addWidget(QLabel("Sampler"), 2, 0)
        grid.addWidget(self.sampler_combo, 2, 1, 1, 3)
        grid.addWidget(self.sampler_note, 3, 1, 1, 3)
        grid.addWidget(QLabel("Steps"), 4, 0)
        grid.addWidget(self.steps_spin, 4, 1)
        grid.addWidget(QLabel("CFG"), 4, 2, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.guidance_spin, 4, 3)
        grid.addWidget(QLabel("Eta"), 5, 0)
        grid.addWidget(self.eta_spin, 5, 1)
        grid.addWidget(QLabel("Classifier"), 5, 2, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.classifier_spin, 5, 3)
        grid.addWidget(QLabel("Schedule"), 6, 0)
        grid.addLayout(self._schedule_row(), 6, 1, 1, 3)
        grid.addWidget(QLabel("Skip"), 7, 0)
        grid.addLayout(self._skip_row(), 7, 1, 1, 3)
        grid.addWidget(self.messages_label, 8, 0, 1, 4)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)

    def _schedule_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(4)
        row.addWidget(self.sigmas_combo, 1)
        row.addWidget(self.spacing_combo, 1)
        row.addWidget(self.zero_snr_box)
        return row

    def _skip_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(4)
        row.addWidget(QLabel("top"))
        row.addWidget(self.skip_top_spin, 1)
        row.addWidget(QLabel("bottom"))
        row.addWidget(self.skip_bottom_spin, 1)
        return row

    def _apply_preset(self, index: int) -> None:
        if index > 0:
            self.lane.set_recipe(self.presets[index - 1].recipe)
        with QSignalBlocker(self.preset_combo):
            self.preset_combo.setCurrentIndex(0)

    def _show_fits(self, facts: ModelFacts) -> None:
        """Grey out the samplers that cannot run the lane's model, the reason as their tip."""
        model = self.sampler_combo.model()
        if not isinstance(model, QStandardItemModel):
            return
        for row, spec in enumerate(SAMPLERS):
            misfit = facts.misfit(spec)
            item = model.item(row)
            item.setEnabled(not misfit)
            item.setToolTip(
                f"{sampler_tip(spec)}\nNot offered: {misfit}" if misfit else sampler_tip(spec)
            )
        self._sampler_changed(self.lane.sampler)

    def _sampler_changed(self, name: str) -> None:
        spec = find_sampler(name) if isinstance(name, str) else None
        uses_eta = spec is not None and spec.uses_eta
        misfit = self.lane.model_facts.misfit(spec) if spec is not None else ""
        self.sampler_combo.setToolTip(misfit or (sampler_tip(spec) if spec is not None else ""))
        note = first_run_note(spec) if spec is not None else ""
        self.sampler_note.setText(note)
        self.sampler_note.setVisible(bool(note))
        self.eta_spin.setEnabled(uses_eta)
        self.eta_spin.setToolTip(
            "Eta: 0 is deterministic, 1 adds fresh noise each step"
            if uses_eta
            else f"{name} does not use eta (only {ETA_SAMPLERS} do)"
        )

    def show_messages(self, messages: list[str]) -> None:
        self.messages_label.setText("\n".join(f"⚠ {m}" for m in messages))
        self.messages_label.setVisible(bool(messages))

    def set_model_label(self, text: str) -> None:
        self.model_label.setText(text)

    def set_guidance_tip(self, text: str) -> None:
        self.guidance_spin.setToolTip(text)
