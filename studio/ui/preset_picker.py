"""The preset picker: published teacher/student pairs, grouped by family, set in one choice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QObject, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QColor, QStandardItemModel
from PySide6.QtWidgets import QComboBox, QListView, QWidget

from studio.core.model_presets import (
    PresetCatalogue,
    describe_preset,
    preset_model_name,
    preset_name_of,
    student_recipe,
)
from studio.core.model_resolver import display_name
from studio.core.preset_schema import ModelPreset
from studio.ui.model_pairs import ModelPairCombo
from studio.viewmodels.model_pairs import ModelPair
from studio.viewmodels.model_presets import apply_preset, student_is_guidance_free
from studio.viewmodels.session import SessionViewModel

PLACEHOLDER = "Published teacher/student pairs…"
POPUP_STYLE = "QComboBox { combobox-popup: 0; } QListView::item { padding: 3px 6px; }"
HEADING_COLOUR = "#3c4a5c"
FAMILY_TITLES = {
    "sd15": "Stable Diffusion 1.5",
    "sd21": "Stable Diffusion 2.1",
    "sdxl": "SDXL",
    "sd3": "Stable Diffusion 3.5",
    "flux": "FLUX.1",
}
NAME_ROLE = Qt.ItemDataRole.UserRole


class ModelPresetCombo(QComboBox):
    """Lists the presets under family headings; `presetChosen` fires when the user picks one."""

    presetChosen = Signal(object)

    def __init__(self, catalogue: PresetCatalogue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelPresetCombo")
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(12)
        self.setView(QListView())
        self.setMaxVisibleItems(20)
        self.setStyleSheet(POPUP_STYLE)
        self.setToolTip(
            "Published teacher/student pairs: choosing one sets both lanes' models, the"
            " student's recipe and the size. Hub models load from the local cache, or download"
            " when the job runs."
        )
        self._presets = {p.name: p for p in catalogue.presets}
        self.warnings = catalogue.warnings
        self.addItem(PLACEHOLDER)
        self._add_families(catalogue.presets)
        self.activated.connect(self._chosen)

    def _add_families(self, presets: tuple[ModelPreset, ...]) -> None:
        families = list(FAMILY_TITLES) + sorted({p.family for p in presets} - set(FAMILY_TITLES))
        for family in families:
            members = [p for p in presets if p.family == family]
            if members:
                self._heading(FAMILY_TITLES.get(family, family))
                for preset in members:
                    self.addItem(f"   {preset.name}", preset.name)
                    tip = describe_preset(preset)
                    self.setItemData(self.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)

    def _heading(self, title: str) -> None:
        self.addItem(title)
        model = self.model()
        if isinstance(model, QStandardItemModel):
            item = model.item(self.count() - 1)
            item.setEnabled(False)
            item.setForeground(QColor(HEADING_COLOUR))
            font = item.font()
            font.setBold(True)
            item.setFont(font)

    def preset(self, name: str) -> ModelPreset | None:
        return self._presets.get(name)

    def show_preset(self, name: str | None) -> None:
        """Show `name` as the current choice (or the placeholder), without `presetChosen`."""
        row = self.findData(name, NAME_ROLE) if name is not None else -1
        with QSignalBlocker(self):
            self.setCurrentIndex(max(row, 0))

    def _chosen(self, row: int) -> None:
        preset = self.preset(self.itemData(row, NAME_ROLE) or "")
        if preset is not None:
            self.presetChosen.emit(preset)


def preset_pair(preset: ModelPreset) -> ModelPair:
    """The model picker's entry for a preset: its base as the teacher, the preset as student."""
    teacher = display_name(preset.base)
    return ModelPair(
        teacher=preset.base,
        student=preset_model_name(preset),
        label=f"{teacher} → {preset.name}",
        student_label=preset.name,
        guidance_distilled=student_is_guidance_free(preset),
        teacher_recipe=preset.teacher,
        student_recipe=student_recipe(preset),
    )


class PairSync(Protocol):
    """Shows the session's pair in the model picker (the window's PairController)."""

    def sync(self) -> None: ...


class PresetController(QObject):
    """Applies a chosen preset to the session and the model picker, and keeps the preset picker
    showing the preset the session uses (the placeholder once the models are changed)."""

    def __init__(
        self,
        session: SessionViewModel,
        combo: ModelPresetCombo,
        models: ModelPairCombo,
        pairs: PairSync,
        report: Callable[[str], None],
        notice: Callable[[str], None],
    ) -> None:
        super().__init__(combo)
        self.session, self.combo, self.models, self.pairs = session, combo, models, pairs
        self._report = report
        combo.presetChosen.connect(self.apply)
        session.studentModelChanged.connect(self.sync)
        session.compareModeChanged.connect(self.sync)
        self.offer_current()
        self.sync()
        if combo.warnings:
            more = len(combo.warnings) - 1
            tail = f" ({more} more problem{'s' if more > 1 else ''} in the log)" if more else ""
            notice(f"A model preset was left out: {combo.warnings[0]}{tail}")

    def offer_current(self) -> None:
        """Put the session's preset pair into the model picker (so a restored one is labelled)."""
        name = preset_name_of(self.session.student_model)
        preset = self.combo.preset(name) if name is not None else None
        if preset is not None:
            self.models.add_pair(preset_pair(preset))

    def apply(self, preset: ModelPreset) -> None:
        self.models.add_pair(preset_pair(preset))
        apply_preset(self.session, preset)
        self.pairs.sync()
        self.combo.show_preset(preset.name)
        self._report(
            f"Preset {preset.name}: {preset.licence}. The models load from the local cache, or"
            " download when you generate."
        )

    def sync(self) -> None:
        s = self.session
        self.combo.show_preset(preset_name_of(s.student_model) if s.compare_mode else None)
