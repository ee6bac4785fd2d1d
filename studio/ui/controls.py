"""The controls column: prompts, the model pair, both lane recipes, seed/size/batch, run buttons."""

from __future__ import annotations

import random

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.jobs import PreviewDecoder
from studio.core.params import MAX_SEED, MAX_SIZE, MIN_SIZE
from studio.core.presets import RecipePreset
from studio.core.settings import MAX_BATCH_COUNT, MAX_PREVIEW_EVERY, SeedMode
from studio.ui.binding import Binding, bind_combo_data, bind_spin, bind_text
from studio.ui.model_pairs import ModelPairCombo
from studio.ui.preset_picker import ModelPresetCombo
from studio.ui.recipe_panel import LaneRecipePanel
from studio.viewmodels.model_pairs import ModelPair, ModelPairs
from studio.viewmodels.session import SessionViewModel

COMBO_MIN_CHARS = 6  # long sampler names elide instead of widening the column
SEED_MODES = {SeedMode.fixed: "Fixed", SeedMode.random: "Random", SeedMode.increment: "Increment"}
PREVIEW_DECODERS = {
    PreviewDecoder.linear: "Linear",
    PreviewDecoder.tiny: "Tiny VAE",
    PreviewDecoder.full: "Full VAE",
}
GENERATE_STYLE = (
    "QPushButton#generateButton { font-weight: bold; padding: 6px 14px; }"
    "QPushButton#generateButton:enabled { background: #2f7de1; color: white;"
    " border: 1px solid #1f5fb0; border-radius: 4px; }"
    "QPushButton#generateButton:enabled:hover { background: #3d8ee6; }"
)


def _prompt_edit(name: str, placeholder: str, lines: int) -> QPlainTextEdit:
    edit = QPlainTextEdit()
    edit.setObjectName(name)
    edit.setPlaceholderText(placeholder)
    edit.setTabChangesFocus(True)
    height = edit.fontMetrics().lineSpacing() * lines + 12
    edit.setFixedHeight(height)
    return edit


class SharedPanel(QGroupBox):
    """Edits what both lanes share: the seed and how it changes, the size, the batch, previews."""

    def __init__(self, session: SessionViewModel, rng: random.Random | None = None) -> None:
        super().__init__("Seed, size and batch")
        self.session = session
        self._rng = rng or random.Random()
        self._build()
        self._bind()
        self._layout()

    def _build(self) -> None:
        self.seed_spin = QDoubleSpinBox()
        self.seed_spin.setObjectName("seedSpin")
        self.seed_spin.setDecimals(0)
        self.seed_spin.setRange(0, MAX_SEED)
        self.seed_mode_combo = QComboBox()
        self.seed_mode_combo.setObjectName("seedModeCombo")
        for mode, label in SEED_MODES.items():
            self.seed_mode_combo.addItem(label, mode.value)
        self.seed_mode_combo.setToolTip(
            "Fixed: every job uses this seed · Random: a new seed per job ·"
            " Increment: seed, seed+1, … and the field moves on"
        )
        self.new_seed_button = QToolButton()
        self.new_seed_button.setObjectName("newSeedButton")
        self.new_seed_button.setText("New")
        self.new_seed_button.setToolTip("Pick a new random seed now")
        self.width_spin = self._size_spin("widthSpin")
        self.height_spin = self._size_spin("heightSpin")
        self.batch_spin = QSpinBox()
        self.batch_spin.setObjectName("batchSpin")
        self.batch_spin.setRange(1, MAX_BATCH_COUNT)
        self.batch_spin.setToolTip("How many jobs one Generate queues")
        self.preview_spin = QSpinBox()
        self.preview_spin.setObjectName("previewEverySpin")
        self.preview_spin.setRange(0, MAX_PREVIEW_EVERY)
        self.preview_spin.setSpecialValueText("off")
        self.preview_spin.setToolTip("Show the image forming every N steps (0: off)")
        self._preview_decoder_widgets()

    def _preview_decoder_widgets(self) -> None:
        self.preview_decoder_combo = QComboBox()
        self.preview_decoder_combo.setObjectName("previewDecoderCombo")
        for decoder, label in PREVIEW_DECODERS.items():
            self.preview_decoder_combo.addItem(label, decoder.value)
        self.preview_decoder_combo.setToolTip(
            "How latent models' previews become pictures · Linear: a fixed colour map, free ·"
            " Tiny VAE: the family's TAESD decoder (~1 M parameters), close to the final image ·"
            " Full VAE: the model's own decoder, exact and slowest"
        )
        self.tiny_vae_label = QLabel("Tiny VAEs")
        self.tiny_vae_edit = QLineEdit()
        self.tiny_vae_edit.setObjectName("tinyVaeFolderEdit")
        self.tiny_vae_edit.setPlaceholderText("Hugging Face cache")
        self.tiny_vae_edit.setToolTip(
            "A folder holding tiny VAEs (taesd, taesdxl, taesd3, taef1 subfolders, or one "
            "decoder); empty: the Hugging Face cache only"
        )
        self.tiny_vae_download_check = QCheckBox("Download if missing")
        self.tiny_vae_download_check.setObjectName("tinyVaeDownloadCheck")
        self.tiny_vae_download_check.setToolTip(
            "Fetch the family's tiny VAE (a few MB) from the Hugging Face hub when it is not "
            "found, with progress and cancel; never done otherwise"
        )

    @staticmethod
    def _size_spin(name: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setObjectName(name)
        spin.setRange(MIN_SIZE, MAX_SIZE)
        spin.setSingleStep(8)
        spin.setSuffix(" px")
        return spin

    def _bind(self) -> None:
        s = self.session
        self.bindings = [
            bind_spin(self.seed_spin, s, "seed", s.seedChanged),
            bind_combo_data(self.seed_mode_combo, s, "seed_mode", s.seedModeChanged),
            bind_spin(self.width_spin, s, "width", s.widthChanged),
            bind_spin(self.height_spin, s, "height", s.heightChanged),
            bind_spin(self.batch_spin, s, "batch_count", s.batchCountChanged),
            bind_spin(self.preview_spin, s, "preview_every", s.previewEveryChanged),
            bind_combo_data(
                self.preview_decoder_combo, s, "preview_decoder", s.previewDecoderChanged
            ),
            Binding(
                [self.tiny_vae_edit],
                [self.tiny_vae_edit.textChanged],
                self.tiny_vae_edit.text,
                self.tiny_vae_edit.setText,
                s,
                "tiny_vae_dir",
                s.tinyVaeDirChanged,
            ),
            Binding(
                [self.tiny_vae_download_check],
                [self.tiny_vae_download_check.toggled],
                self.tiny_vae_download_check.isChecked,
                self.tiny_vae_download_check.setChecked,
                s,
                "tiny_vae_download",
                s.tinyVaeDownloadChanged,
            ),
        ]
        s.previewDecoderChanged.connect(self._show_tiny_vae_options)
        self._show_tiny_vae_options()
        self.new_seed_button.clicked.connect(self.new_seed)

    def _layout(self) -> None:
        grid = QGridLayout(self)
        grid.setContentsMargins(8, 6, 8, 8)
        grid.setVerticalSpacing(4)
        grid.addWidget(QLabel("Seed"), 0, 0)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed_spin, 1)
        seed_row.addWidget(self.new_seed_button)
        grid.addLayout(seed_row, 0, 1, 1, 3)
        grid.addWidget(QLabel("Seed mode"), 1, 0)
        grid.addWidget(self.seed_mode_combo, 1, 1, 1, 3)
        grid.addWidget(QLabel("Size"), 2, 0)
        grid.addWidget(self.width_spin, 2, 1)
        grid.addWidget(QLabel("×"), 2, 2, Qt.AlignmentFlag.AlignCenter)
        grid.addWidget(self.height_spin, 2, 3)
        grid.addWidget(QLabel("Batch count"), 3, 0)
        grid.addWidget(self.batch_spin, 3, 1)
        grid.addWidget(QLabel("Preview every"), 4, 0)
        grid.addWidget(self.preview_spin, 4, 1)
        grid.addWidget(QLabel("steps"), 4, 2, 1, 2)
        grid.addWidget(QLabel("Preview with"), 5, 0)
        grid.addWidget(self.preview_decoder_combo, 5, 1, 1, 3)
        grid.addWidget(self.tiny_vae_label, 6, 0)
        grid.addWidget(self.tiny_vae_edit, 6, 1, 1, 3)
        grid.addWidget(self.tiny_vae_download_check, 7, 1, 1, 3)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)

    def _show_tiny_vae_options(self, *_: object) -> None:
        tiny = self.session.preview_decoder is PreviewDecoder.tiny
        for widget in (self.tiny_vae_label, self.tiny_vae_edit, self.tiny_vae_download_check):
            widget.setVisible(tiny)

    def new_seed(self) -> None:
        self.session.seed = self._rng.randint(0, MAX_SEED)


class ControlsColumn(QWidget):
    """Lays out every input of a generation and the Generate, Stop and Cancel buttons."""

    def __init__(
        self,
        session: SessionViewModel,
        pairs: list[ModelPair],
        recipe_presets: tuple[RecipePreset, ...],
    ) -> None:
        super().__init__()
        self.session = session
        self.prompt_edit = _prompt_edit("promptEdit", "What to draw, e.g. 'grinning face'", 3)
        self.negative_edit = _prompt_edit("negativePromptEdit", "What to avoid (needs CFG > 1)", 2)
        self.model_combo = ModelPairCombo(pairs, ModelPairs(session.models).pair_for)
        self.preset_combo = ModelPresetCombo(session.models.presets)
        self.teacher_panel = LaneRecipePanel(session.teacher, "teacher", "Teacher", recipe_presets)
        self.student_panel = LaneRecipePanel(session.student, "student", "Student", recipe_presets)
        self.shared_panel = SharedPanel(session)
        self._buttons()
        self.bindings = [
            bind_text(self.prompt_edit, session, "prompt", session.promptChanged),
            bind_text(
                self.negative_edit, session, "negative_prompt", session.negativePromptChanged
            ),
        ]
        self._layout()

    def _buttons(self) -> None:
        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("generateButton")
        self.generate_button.setToolTip("Generate (Ctrl+Enter); while busy, queue another job")
        self.generate_button.setStyleSheet(GENERATE_STYLE)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip("Stop after this step and keep the partial image")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip("Discard the running job and the queue (Esc)")
        for button in (self.stop_button, self.cancel_button):
            button.setEnabled(False)

    def _layout(self) -> None:
        form = QWidget()
        column = QVBoxLayout(form)
        column.setContentsMargins(8, 8, 8, 8)
        column.setSpacing(6)
        column.addWidget(QLabel("Prompt"))
        column.addWidget(self.prompt_edit)
        column.addWidget(QLabel("Negative prompt"))
        column.addWidget(self.negative_edit)
        model_row = QHBoxLayout()
        model_row.addWidget(QLabel("Models"))
        model_row.addWidget(self.model_combo, 1)
        column.addLayout(model_row)
        preset_row = QHBoxLayout()
        preset_row.addWidget(QLabel("Presets"))
        preset_row.addWidget(self.preset_combo, 1)
        column.addLayout(preset_row)
        column.addWidget(self.teacher_panel)
        column.addWidget(self.student_panel)
        column.addWidget(self.shared_panel)
        column.addStretch(1)
        for combo in (self.model_combo, self.preset_combo):
            combo.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        for box in form.findChildren(QComboBox):
            box.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            box.setMinimumContentsLength(COMBO_MIN_CHARS)
        scroll = QScrollArea()
        scroll.setObjectName("controlsScroll")
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Tab goes to the controls, not the frame
        scroll.setWidget(form)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll_bar = scroll.verticalScrollBar().sizeHint().width()
        self.setMinimumWidth(form.minimumSizeHint().width() + scroll_bar)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 8)
        outer.addWidget(scroll, 1)
        outer.addLayout(self._button_row())

    def _button_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setContentsMargins(8, 0, 8, 0)
        row.addWidget(self.generate_button, 2)
        row.addWidget(self.stop_button, 1)
        row.addWidget(self.cancel_button, 1)
        return row

    def set_busy(self, busy: bool) -> None:
        self.stop_button.setEnabled(busy)
        self.cancel_button.setEnabled(busy)
