"""The first-run welcome: what Studio does, the default pair loaded and a prompt to try.

It is a panel at the top of the window, not a modal dialog, so the window stays usable around
it. Generating from it or closing it remembers, in the settings, that the user was welcomed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.core.settings import DEFAULT_PROMPT
from studio.ui.actions import WindowActions
from studio.ui.controls import ControlsColumn
from studio.viewmodels.model_pairs import ModelPair, ModelPairs
from studio.viewmodels.session import SessionViewModel
from studio.viewmodels.settings import SettingsViewModel

# The prompt the embedded pair renders best (teacher and 4-step student nearly agree on it).
SUGGESTED_PROMPT = DEFAULT_PROMPT

TITLE = "Welcome to Studio"
INTRO = (
    "Studio draws images from a text prompt with diffusion models, on this computer. "
    "The built-in emoji model (the teacher, 25 steps) and its distilled student (4 steps) are "
    "loaded side by side: both start from the same prompt, seed and noise, and you watch each "
    "image form step by step, so you see how much faster the student is and what that costs."
)
NEXT_STEPS = (
    "Try the prompt below, or write your own: an emoji name, its group and “noto style” or "
    "“twemoji style”. Later, add your own models in the Models tab or with File › Open model "
    "folder."
)

STYLE = """
#welcomePanel { background: palette(alternate-base); border: 1px solid palette(mid);
                border-radius: 6px; }
#welcomeTitle { font-size: 15pt; font-weight: 600; }
#welcomePrompt { font-family: monospace; padding: 4px 8px; border-radius: 4px;
                 background: palette(base); }
QPushButton#welcomeGenerate { font-weight: bold; padding: 5px 14px; background: #2f7de1;
                              color: white; border: 1px solid #2468c0; border-radius: 4px; }
QPushButton#welcomeGenerate:hover { background: #3d8ee6; }
QPushButton#welcomeGenerate:focus { border: 2px solid #123d73; }
"""


def _label(text: str, name: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class WelcomePanel(QFrame):
    """Shows the welcome text and two buttons: generate the suggested prompt, or close."""

    generateRequested = Signal(str)
    dismissed = Signal()

    def __init__(self, prompt: str = SUGGESTED_PROMPT, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prompt = prompt
        self.setObjectName("welcomePanel")
        self.setStyleSheet(STYLE)
        self.setAccessibleName(TITLE)
        self.setAccessibleDescription(INTRO)
        self.generate_button = QPushButton("&Generate this prompt")
        self.generate_button.setObjectName("welcomeGenerate")
        self.generate_button.setToolTip("Use the default pair and this prompt, and generate")
        self.close_button = QPushButton("&Close welcome")
        self.close_button.setObjectName("welcomeClose")
        self.close_button.setToolTip("Close the welcome; Help › Welcome shows it again")
        for button in (self.generate_button, self.close_button):
            button.setAutoDefault(True)  # Enter presses the focused button, as Space does
        self.generate_button.clicked.connect(lambda: self.generateRequested.emit(self.prompt))
        self.close_button.clicked.connect(self.dismissed.emit)
        self._layout()

    def showEvent(self, event) -> None:
        """Take the keyboard focus once the window is on screen (not before: it would be lost)."""
        super().showEvent(event)
        QTimer.singleShot(0, self, self.focus)

    def focus(self) -> None:
        self.generate_button.setFocus(Qt.FocusReason.OtherFocusReason)

    def _layout(self) -> None:
        column = QVBoxLayout(self)
        column.setContentsMargins(14, 10, 14, 10)
        column.addWidget(_label(TITLE, "welcomeTitle"))
        column.addWidget(_label(INTRO, "welcomeIntro"))
        column.addWidget(_label(NEXT_STEPS, "welcomeNext"))
        prompt = _label(self.prompt, "welcomePrompt")
        prompt.setAccessibleName("Suggested prompt")
        column.addWidget(prompt)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.close_button)
        row.addWidget(self.generate_button)
        column.addLayout(row)
        self.setTabOrder(self.generate_button, self.close_button)


class Welcome:
    """Shows the panel, runs its suggestion, and remembers that the user was welcomed.

    A first run starts on the defaults, which are the embedded pair (warmed at start-up) and the
    suggested prompt; showing the panel changes nothing else, so a user who already has settings
    keeps them. `place` puts the panel into the window; `use_defaults(prompt)` selects the
    embedded pair and fills in the prompt, for the panel's Generate; `generate()` runs it;
    `remember()` saves that the user was welcomed.
    """

    def __init__(
        self,
        place: Callable[[QWidget], None],
        use_defaults: Callable[[str], None],
        generate: Callable[[], object],
        remember: Callable[[], None],
    ) -> None:
        self._place, self._use_defaults = place, use_defaults
        self._generate, self._remember = generate, remember
        self.panel: WelcomePanel | None = None

    def show(self, prompt: str = SUGGESTED_PROMPT) -> WelcomePanel:
        if self.panel is None:
            self.panel = WelcomePanel(prompt)
            self.panel.generateRequested.connect(self._on_generate)
            self.panel.dismissed.connect(self.dismiss)
            self._place(self.panel)
        self.panel.show()
        self.panel.focus()
        return self.panel

    def _on_generate(self, prompt: str) -> None:
        self._use_defaults(prompt)
        self.dismiss()
        self._generate()

    def dismiss(self) -> None:
        if self.panel is not None:
            self.panel.hide()
            self.panel.deleteLater()
            self.panel = None
        self._remember()


class WelcomeHost(Protocol):
    """What the welcome needs of its window (the MainWindow is one): where the panel goes, the
    first field of the tab order, the Help › Welcome action, and the session to set up."""

    @property
    def session(self) -> SessionViewModel: ...

    @property
    def settings(self) -> SettingsViewModel: ...

    @property
    def centre_column(self) -> QVBoxLayout: ...

    @property
    def controls(self) -> ControlsColumn: ...

    @property
    def window_actions(self) -> WindowActions: ...

    def apply_pair(self, pair: ModelPair) -> None: ...

    def generate(self) -> list[str]: ...

    def save_settings(self) -> None: ...


def welcome_for(window: WelcomeHost) -> Welcome:
    """The window's welcome: above its centre, on the embedded pair; Help › Welcome shows it."""

    def use_defaults(prompt: str) -> None:
        window.apply_pair(ModelPairs(window.session.models).default())
        window.session.prompt = prompt

    def remember() -> None:
        window.settings.welcomed = True
        window.save_settings()

    def place(panel: QWidget) -> None:
        window.centre_column.insertWidget(0, panel)
        if not isinstance(panel, WelcomePanel):
            return
        first = window.controls.prompt_edit
        before = first.previousInFocusChain()
        if before is not None:
            QWidget.setTabOrder(before, panel.generate_button)
        QWidget.setTabOrder(panel.generate_button, panel.close_button)
        QWidget.setTabOrder(panel.close_button, first)

    welcome = Welcome(
        place,
        use_defaults,
        window.generate,
        remember,
    )
    window.window_actions.welcome.triggered.connect(lambda: welcome.show())
    return welcome
