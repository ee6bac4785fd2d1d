"""A dismissible message line at the top of the window for errors and notices."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton

STYLES = {
    "error": "QFrame#messageBanner { background: #fde2e1; border: 1px solid #d64541;"
    " border-radius: 4px; } QLabel { color: #5c1210; }",
    "notice": "QFrame#messageBanner { background: #e3effd; border: 1px solid #3d8ee6;"
    " border-radius: 4px; } QLabel { color: #0f2f57; }",
}
ICONS = {"error": "✖", "notice": "ℹ"}


class MessageBanner(QFrame):
    """Shows the latest error or notice in one line (wrapping) until the user dismisses it."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("messageBanner")
        self.icon = QLabel()
        self.text = QLabel()
        self.text.setObjectName("messageText")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton()
        self.close_button.setObjectName("messageClose")
        self.close_button.setText("✕")
        self.close_button.setToolTip("Dismiss")
        self.close_button.setAutoRaise(True)
        self.close_button.clicked.connect(self.dismiss)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 4, 4)
        row.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.text, 1)
        row.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.kind = ""
        self.hide()

    def show_message(self, text: str, kind: str = "error") -> None:
        self.kind = kind
        self.setStyleSheet(STYLES[kind])
        self.icon.setText(ICONS[kind])
        self.text.setText(text)
        self.show()

    def message(self) -> str:
        return "" if self.isHidden() else self.text.text()

    def dismiss(self) -> None:
        self.hide()
        self.text.clear()
        self.kind = ""
