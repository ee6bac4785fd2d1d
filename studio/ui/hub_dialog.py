"""File > Open hub model…: type a hub id (org/name) and use it as the teacher or the student."""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.student_refs import is_hub_id
from studio.core.wording import shown
from studio.viewmodels.model_pairs import ModelPair

EXAMPLE_ID = "stabilityai/sd-turbo"
VALID_FORM = (
    f"A hub id is org/name, such as {EXAMPLE_ID}: letters, digits, '-', '_' and '.' on each "
    "side of one slash."
)
DOWNLOAD_NOTE = (
    "The model downloads the first time a job uses it (the progress shows on the lane's bar; "
    "Esc cancels), or loads from the local Hugging Face cache when you are offline."
)


def hub_id_problem(text: str) -> str:
    """Why `text` is not a hub id, in one sentence; "" when it is one (or nothing is typed)."""
    name = text.strip()
    if not name or is_hub_id(name):
        return ""
    return f"{shown(name, 60)} is not a hub model id. {VALID_FORM}"


class HubModelDialog(QDialog):
    """Asks for a hub id and a lane; OK stays disabled until the id is valid, and an inline
    message says what is wrong with an invalid one."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("hubModelDialog")
        self.setWindowTitle("Open hub model")
        self.edit = QLineEdit()
        self.edit.setObjectName("hubIdEdit")
        self.edit.setPlaceholderText(EXAMPLE_ID)
        self.edit.setClearButtonEnabled(True)
        self.error = QLabel()
        self.error.setObjectName("hubIdError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b;")
        self.teacher = QRadioButton("Use as &teacher")
        self.teacher.setObjectName("useAsTeacher")
        self.student = QRadioButton("Use as &student of the current teacher")
        self.student.setObjectName("useAsStudent")
        self.lanes = QButtonGroup(self)
        self.lanes.addButton(self.teacher)
        self.lanes.addButton(self.student)
        self.teacher.setChecked(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.edit.textChanged.connect(self._check)
        self._layout()
        self._check(self.edit.text())

    def _layout(self) -> None:
        heading = QLabel("Hub model id (&org/name):")
        heading.setBuddy(self.edit)
        note = QLabel(html.escape(DOWNLOAD_NOTE))
        note.setObjectName("hubDownloadNote")
        note.setWordWrap(True)
        note.setTextFormat(Qt.TextFormat.RichText)
        note.setMinimumWidth(440)
        lanes = QHBoxLayout()
        lanes.addWidget(self.teacher)
        lanes.addWidget(self.student)
        lanes.addStretch(1)
        column = QVBoxLayout(self)
        column.addWidget(heading)
        column.addWidget(self.edit)
        column.addWidget(self.error)
        column.addLayout(lanes)
        column.addWidget(note)
        column.addWidget(self.buttons)

    def _check(self, text: str) -> None:
        problem = hub_id_problem(text)
        self.error.setText(problem)
        self.error.setVisible(bool(problem))
        self.ok.setEnabled(is_hub_id(text.strip()))

    @property
    def hub_id(self) -> str:
        return self.edit.text().strip()

    @property
    def as_student(self) -> bool:
        return self.student.isChecked()

    def accept(self) -> None:
        if is_hub_id(self.hub_id):
            super().accept()


class HubModelMenu(QObject):
    """Opens the dialog from its action and uses the chosen id the way the Models tab uses a
    model (`use`), then says on the status line how it will load."""

    def __init__(
        self,
        action: QAction,
        use: Callable[[str, bool], ModelPair | None],
        set_status: Callable[[str], None],
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self._use, self._set_status, self._parent = use, set_status, parent
        action.triggered.connect(self.open)

    def open(self) -> HubModelDialog:
        """Show the dialog (window-modal, without blocking); it deletes itself when closed."""
        dialog = HubModelDialog(self._parent)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.use(dialog.hub_id, dialog.as_student))
        dialog.open()
        return dialog

    def use(self, hub_id: str, as_student: bool) -> ModelPair | None:
        """Put `hub_id` on the student or teacher lane; None when it is no hub id."""
        if not is_hub_id(hub_id):
            return None
        pair = self._use(hub_id, as_student)
        if pair is not None:
            lane = "student" if as_student else "teacher"
            self._set_status(
                f"Using {hub_id} as the {lane}: it downloads when a job first needs it "
                "(progress on the lane's bar, Esc cancels), or loads from the local cache offline."
            )
        return pair
