"""File > Connect to engine… and File > Use the local engine.

The dialog asks for a served engine's URL and token (`studio serve`), checks the URL before it
closes (one sentence under the fields when it cannot be used), and can remember both: the URL
in the settings, the token in a private file beside them. The window never builds an engine:
the menu emits what the user chose, and the composition root swaps the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from studio.core.remote_api import EngineAddress
from studio.viewmodels.settings import SettingsViewModel

MIN_TOKEN_CHARS = 16
URL_HINT = "http://gpu-server:8000"
SHORT_TOKEN = (
    f"The token must be at least {MIN_TOKEN_CHARS} characters, or empty for a server without one."
)
SPACE_IN_TOKEN = "The token must hold no spaces or line breaks."
INTRO = (
    "Run the jobs on an engine served by <code>studio serve</code>; the images are still saved "
    "on this computer."
)
TOKEN_NOTE = "A remembered token is kept in a file only you can read, beside the settings."


@dataclass(frozen=True, slots=True)
class EngineChoice:
    """A served engine the user chose: its URL, its token, and whether to remember both."""

    url: str
    token: str = ""
    remember: bool = False


def token_problem(token: str) -> str:
    """Why `token` cannot be a served engine's token; "" when it can."""
    if any(c.isspace() for c in token):
        return SPACE_IN_TOKEN
    if token and len(token) < MIN_TOKEN_CHARS:
        return SHORT_TOKEN
    return ""


class ConnectDialog(QDialog):
    """Shows one `EngineChoice` as fields; OK only with a usable URL and token."""

    def __init__(self, choice: EngineChoice, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("connectDialog")
        self.setWindowTitle("Connect to engine")
        self.url = QLineEdit(choice.url)
        self.url.setObjectName("engineUrl")
        self.url.setPlaceholderText(URL_HINT)
        self.token = QLineEdit(choice.token)
        self.token.setObjectName("engineToken")
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("none")
        self.remember = QCheckBox("&Remember this engine and its token")
        self.remember.setObjectName("rememberEngine")
        self.remember.setChecked(choice.remember)
        self.remember.setToolTip(TOKEN_NOTE)
        self.problem = QLabel()
        self.problem.setTextFormat(Qt.TextFormat.PlainText)
        self.problem.setObjectName("connectProblem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #c0392b;")
        self.problem.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Connect")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        for edit in (self.url, self.token):
            edit.textEdited.connect(self._clear_problem)
        self._layout()

    def _layout(self) -> None:
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)
        intro.setMinimumWidth(420)
        form = QFormLayout()
        form.addRow("&URL:", self.url)
        form.addRow("&Token:", self.token)
        form.addRow("", self.remember)
        column = QVBoxLayout(self)
        column.addWidget(intro)
        column.addLayout(form)
        column.addWidget(self.problem)
        column.addWidget(self.buttons)

    def problem_text(self) -> str:
        """Why the fields cannot be used; "" when they can."""
        try:
            EngineAddress.parse(self.url.text())
        except ValueError as exc:
            return str(exc)
        return token_problem(self.token.text().strip())

    def choice(self) -> EngineChoice:
        """The fields as one choice (the URL written out in full); ValueError when unusable."""
        problem = self.problem_text()
        if problem:
            raise ValueError(problem)
        url = EngineAddress.parse(self.url.text()).url
        return EngineChoice(url, self.token.text().strip(), self.remember.isChecked())

    def accept(self) -> None:
        problem = self.problem_text()
        if problem:
            self.problem.setText(problem)
            self.problem.show()
            return
        super().accept()

    def _clear_problem(self) -> None:
        self.problem.hide()


class EngineConnectMenu(QObject):
    """Opens the dialog from File > Connect to engine… (pre-filled with the remembered engine),
    remembers or forgets what the user chose, and emits the choice; File > Use the local engine
    emits `localRequested`."""

    connectRequested = Signal(str, str)
    localRequested = Signal()

    def __init__(
        self,
        connect: QAction,
        local: QAction,
        settings: SettingsViewModel,
        current_url: Callable[[], str],
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.settings, self._current_url, self._parent = settings, current_url, parent
        connect.triggered.connect(self.open)
        local.triggered.connect(self.localRequested.emit)

    def remembered(self) -> EngineChoice:
        """What the dialog starts with: the remembered engine, else the one in use."""
        url, token = self.settings.remembered_engine()
        if url:
            return EngineChoice(url, token, remember=True)
        return EngineChoice(self._current_url())

    def open(self) -> ConnectDialog:
        """Show the dialog (window-modal, without blocking); it deletes itself when closed."""
        dialog = ConnectDialog(self.remembered(), self._parent)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.choose(dialog.choice()))
        dialog.open()
        return dialog

    def choose(self, choice: EngineChoice) -> None:
        """Remember the engine, or forget the remembered one when not asked to; then ask for it."""
        if choice.remember:
            self.settings.remember_engine(choice.url, choice.token)
        elif self.settings.engine_url:
            self.settings.remember_engine("", "")
        self.connectRequested.emit(choice.url, choice.token)
