"""The Models tab: the scanned models folder as a table, and buttons that put a model to use."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.checkpoint_family import CONFIG_LABELS
from studio.core.model_library import EntryKind, LibraryEntry
from studio.core.units import human_size
from studio.ui.pickle_opt_in import PickleOptIn
from studio.viewmodels.model_library import ModelLibraryViewModel

COLUMNS = ("Name", "Family", "Kind", "Size", "Format", "Notes")
SIZE_COLUMN = 3
ALLOWED_FORMAT = "pickle, allowed"
ALLOWED_NOTE = "You allowed this pickle file; it is read with torch.load(weights_only=True)."


def entry_cells(entry: LibraryEntry, allowed: bool = False) -> tuple[str, ...]:
    size = human_size(entry.size_bytes) if entry.size_bytes else "—"
    family = f"LoRA, {entry.base_family}" if entry.is_lora and entry.base_family else entry.family
    shown_format, note = (ALLOWED_FORMAT, ALLOWED_NOTE) if allowed else (entry.format, entry.note)
    kind = f"built-in {entry.kind.value}" if entry.builtin else entry.kind.value
    return (entry.name, family, kind, size, shown_format, note)


def detail_text(entry: LibraryEntry | None, allowed: bool = False) -> str:
    """The selected entry's full path and note, or how to use the table."""
    if entry is None:
        return "Select a model to use it; greyed entries cannot be used as they are (see notes)."
    note = ALLOWED_NOTE if allowed else entry.note
    return f"{entry.path}\n{note}" if note else entry.path


class ModelLibraryPanel(QWidget):
    """Shows a ModelLibraryViewModel; `useRequested(name, as_student)` asks to use an entry (a
    pickle file too: the window asks the user first), `adapterRequested(path)` to put a LoRA
    file on the teacher for the student lane, `chooseRequested` to pick another models folder,
    `forgetPicklesRequested` to take back every pickle permission."""

    useRequested = Signal(str, bool)
    adapterRequested = Signal(str)
    chooseRequested = Signal()
    forgetPicklesRequested = Signal()

    def __init__(
        self,
        library: ModelLibraryViewModel,
        pickles: PickleOptIn | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.library = library
        self.pickles = pickles
        self._build()
        library.entriesChanged.connect(self.refresh)
        if pickles is not None:
            pickles.changed.connect(self._on_permissions)
        self.refresh()

    def _allowed(self, entry: LibraryEntry) -> bool:
        return entry.is_pickle_file and self.pickles is not None and self.pickles.allows(entry.path)

    def _build(self) -> None:
        self.summary = QLabel()
        self.summary.setObjectName("librarySummary")
        self.summary.setWordWrap(True)
        self.choose_button = QPushButton("Choose models folder…")
        self.choose_button.setObjectName("chooseModelsFolder")
        self.rescan_button = QPushButton("Rescan")
        self.rescan_button.setObjectName("rescanModels")
        self.forget_button = QPushButton("Forget pickle permissions")
        self.forget_button.setObjectName("forgetPickles")
        self.forget_button.setToolTip("Ask again before any pickle file is used")
        self.choose_button.clicked.connect(self.chooseRequested)
        self.rescan_button.clicked.connect(self.library.scan)
        self.forget_button.clicked.connect(self.forgetPicklesRequested)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.forget_button)
        top.addWidget(self.rescan_button)
        top.addWidget(self.choose_button)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 4, 0, 0)
        column.addLayout(top)
        column.addWidget(self._table(), 1)
        actions = self._actions()
        column.addWidget(self.detail)
        column.addLayout(actions)

    def _table(self) -> QTableWidget:
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("libraryTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        for index in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(index, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.table.cellDoubleClicked.connect(lambda row, _col: self._use(row, as_student=False))
        return self.table

    def _actions(self) -> QHBoxLayout:
        self.config_label = QLabel("Config:")
        self.config_combo = QComboBox()
        self.config_combo.setObjectName("singleFileConfig")
        self.config_combo.setToolTip(
            "Which configs a single-file checkpoint loads with (SD 2.x files cannot tell)"
        )
        self.teacher_button = QPushButton("Use as teacher")
        self.teacher_button.setObjectName("useAsTeacher")
        self.student_button = QPushButton("Use as student")
        self.student_button.setObjectName("useAsStudent")
        self.adapter_button = QPushButton("Use as student adapter")
        self.adapter_button.setObjectName("useAsAdapter")
        self.adapter_button.setToolTip("The student lane runs the teacher with this LoRA")
        self.teacher_button.clicked.connect(lambda: self._use(self.table.currentRow(), False))
        self.student_button.clicked.connect(lambda: self._use(self.table.currentRow(), True))
        self.adapter_button.clicked.connect(self._use_adapter)
        self.detail = QLabel()
        self.detail.setObjectName("libraryDetail")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        row.addStretch(1)
        for widget in (self.config_label, self.config_combo):
            row.addWidget(widget)
        row.addWidget(self.teacher_button)
        row.addWidget(self.student_button)
        row.addWidget(self.adapter_button)
        return row

    def refresh(self) -> None:
        """Show the library's entries and summary again."""
        self.summary.setText(self.library.summary())
        entries = self.library.entries
        self.table.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            allowed = self._allowed(entry)
            for column, text in enumerate(entry_cells(entry, allowed)):
                self.table.setItem(row, column, self._item(entry, column, text, allowed))
        given = self.pickles is not None and bool(self.pickles.permissions.entries)
        self.forget_button.setEnabled(given)
        self.table.clearSelection()
        self._on_selection()

    def _on_permissions(self) -> None:
        """Show a permission given or taken back, keeping the selected row."""
        row = self.table.currentRow() if self.selected() is not None else -1
        self.refresh()
        if row >= 0:
            self.table.selectRow(row)

    def _item(
        self, entry: LibraryEntry, column: int, text: str, allowed: bool = False
    ) -> QTableWidgetItem:
        item = QTableWidgetItem(text)
        note = ALLOWED_NOTE if allowed else entry.note
        item.setToolTip(f"{entry.path}\n{note}" if note else entry.path)
        if column == SIZE_COLUMN:
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if not (entry.loadable or allowed or entry.is_lora):
            item.setForeground(self.palette().color(QPalette.ColorRole.PlaceholderText))
        elif column == 0:
            item.setForeground(QColor(self.palette().color(QPalette.ColorRole.Text)))
        return item

    def selected(self) -> LibraryEntry | None:
        row = self.table.currentRow()
        entries = self.library.entries
        selected = self.table.selectionModel().hasSelection()
        return entries[row] if selected and 0 <= row < len(entries) else None

    def _on_selection(self) -> None:
        entry = self.selected()
        allowed = entry is not None and self._allowed(entry)
        self.detail.setText(detail_text(entry, allowed))
        configs = entry.configs if entry is not None else ()
        self.config_combo.clear()
        for name in configs:
            self.config_combo.addItem(CONFIG_LABELS.get(name, name), name)
        choosable = len(configs) > 1
        self.config_combo.setVisible(choosable)
        self.config_label.setVisible(choosable)
        usable = entry is not None and (entry.loadable or entry.is_pickle_file)
        is_model = usable and entry is not None and entry.kind is not EntryKind.adapter
        self.teacher_button.setEnabled(is_model)
        self.student_button.setEnabled(usable)
        self.adapter_button.setEnabled(entry is not None and entry.is_lora)

    def _use(self, row: int, as_student: bool) -> None:
        entries = self.library.entries
        if not 0 <= row < len(entries):
            return
        entry = entries[row]
        if not entry.loadable and not entry.is_pickle_file:
            return
        if entry.kind is EntryKind.adapter and not as_student:
            return
        config = self.config_combo.currentData() if self.config_combo.count() > 1 else ""
        default = entry.configs[0] if entry.configs else ""
        self.useRequested.emit(entry.model_name("" if config == default else config), as_student)

    def _use_adapter(self) -> None:
        entry = self.selected()
        if entry is not None and entry.is_lora:
            self.adapterRequested.emit(entry.path)
