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
from studio.viewmodels.model_library import ModelLibraryViewModel

COLUMNS = ("Name", "Family", "Kind", "Size", "Format", "Notes")
SIZE_COLUMN = 3


def entry_cells(entry: LibraryEntry) -> tuple[str, ...]:
    size = human_size(entry.size_bytes) if entry.size_bytes else "—"
    return (entry.name, entry.family, entry.kind.value, size, entry.format, entry.note)


def detail_text(entry: LibraryEntry | None) -> str:
    """The selected entry's full path and note, or how to use the table."""
    if entry is None:
        return "Select a model to use it; greyed entries cannot load as models (the notes say why)."
    return f"{entry.path}\n{entry.note}" if entry.note else entry.path


class ModelLibraryPanel(QWidget):
    """Shows a ModelLibraryViewModel; `useRequested(name, as_student)` asks to use an entry,
    `chooseRequested` to pick another models folder."""

    useRequested = Signal(str, bool)
    chooseRequested = Signal()

    def __init__(self, library: ModelLibraryViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self._build()
        library.entriesChanged.connect(self.refresh)
        self.refresh()

    def _build(self) -> None:
        self.summary = QLabel()
        self.summary.setObjectName("librarySummary")
        self.choose_button = QPushButton("Choose models folder…")
        self.choose_button.setObjectName("chooseModelsFolder")
        self.rescan_button = QPushButton("Rescan")
        self.rescan_button.setObjectName("rescanModels")
        self.choose_button.clicked.connect(self.chooseRequested)
        self.rescan_button.clicked.connect(self.library.scan)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
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
        self.teacher_button.clicked.connect(lambda: self._use(self.table.currentRow(), False))
        self.student_button.clicked.connect(lambda: self._use(self.table.currentRow(), True))
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
        return row

    def refresh(self) -> None:
        """Show the library's entries and summary again."""
        self.summary.setText(self.library.summary())
        entries = self.library.entries
        self.table.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            for column, text in enumerate(entry_cells(entry)):
                self.table.setItem(row, column, self._item(entry, column, text))
        self.table.clearSelection()
        self._on_selection()

    def _item(self, entry: LibraryEntry, column: int, text: str) -> QTableWidgetItem:
        item = QTableWidgetItem(text)
        item.setToolTip(f"{entry.path}\n{entry.note}" if entry.note else entry.path)
        if column == SIZE_COLUMN:
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if not entry.loadable:
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
        self.detail.setText(detail_text(entry))
        configs = entry.configs if entry is not None else ()
        self.config_combo.clear()
        for name in configs:
            self.config_combo.addItem(CONFIG_LABELS.get(name, name), name)
        choosable = len(configs) > 1
        self.config_combo.setVisible(choosable)
        self.config_label.setVisible(choosable)
        loadable = entry is not None and entry.loadable
        is_model = loadable and entry is not None and entry.kind is not EntryKind.adapter
        self.teacher_button.setEnabled(is_model)
        self.student_button.setEnabled(loadable)

    def _use(self, row: int, as_student: bool) -> None:
        entries = self.library.entries
        if not 0 <= row < len(entries) or not entries[row].loadable:
            return
        entry = entries[row]
        if entry.kind is EntryKind.adapter and not as_student:
            return
        config = self.config_combo.currentData() if self.config_combo.count() > 1 else ""
        default = entry.configs[0] if entry.configs else ""
        self.useRequested.emit(entry.model_name("" if config == default else config), as_student)
