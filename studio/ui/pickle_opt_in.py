"""The per-file pickle opt-in: a question before a pickle checkpoint is used, and the answers kept.

A pickle checkpoint chosen in the Models tab is used only after the user allows that one file in
a dialog whose default answer is Cancel. The permission names the file's resolved path, size and
modification time (a replaced file asks again), lives in the session (so jobs built for that
file carry `allow_pickle`) and is saved with the settings; "Forget pickle permissions" takes
every one back.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from studio.core.pickle_permissions import PicklePermissions
from studio.core.units import human_size
from studio.core.weights_check import sniff_file
from studio.viewmodels.session import SessionViewModel

DIALOG_TITLE = "Allow a pickle checkpoint?"
ALLOW_TEXT = "Allow this file"


PICKLE_EXPLAINED = (
    "Pickle is Python's object format, and loading a pickle can run any code its author put "
    "in it, so the studio refuses pickle files unless you allow one. If you allow this one "
    "file, the studio reads it with torch.load(weights_only=True), which accepts only tensors "
    "and plain containers and refuses anything else; no other pickle file is allowed, and if "
    "this file is replaced or changed you will be asked again. Allow it only if you trust "
    "where it came from; converting it to safetensors is safer."
)


def pickle_heading(path: Path) -> str:
    """The dialog's question (rich text, the file's name and path escaped)."""
    try:
        size = f" ({human_size(path.stat().st_size)})"
    except OSError:
        size = ""
    return f"<b>Allow the pickle checkpoint {escape(path.name)}{size}?</b><br>{escape(str(path))}"


def pickle_dialog(parent: QWidget | None, path: Path) -> QMessageBox:
    """The question for `path`, not shown yet; Cancel is its default and its Escape button."""
    box = QMessageBox(parent)
    box.setObjectName("pickleOptIn")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(DIALOG_TITLE)
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setText(pickle_heading(path))
    box.setInformativeText(PICKLE_EXPLAINED)
    allow = box.addButton(ALLOW_TEXT, QMessageBox.ButtonRole.AcceptRole)
    allow.setObjectName("allowPickle")
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.setEscapeButton(cancel)
    return box


def ask_pickle_permission(parent: QWidget | None, path: Path) -> bool:
    """Show the question and wait; True only when the user chose to allow the file."""
    box = pickle_dialog(parent, path)
    box.exec()
    clicked = box.clickedButton()
    allowed = clicked is not None and box.buttonRole(clicked) is QMessageBox.ButtonRole.AcceptRole
    box.deleteLater()
    return allowed


def is_pickle_file(path: Path) -> bool:
    """Whether `path` is a file whose bytes say pickle (a PyTorch zip or a plain pickle)."""
    try:
        return path.is_file() and sniff_file(path).is_pickle
    except OSError:
        return False


class PickleOptIn(QObject):
    """Asks before a pickle file is used and keeps the answers in the session; `changed` fires
    when a permission is given or taken back."""

    changed = Signal()

    def __init__(
        self,
        session: SessionViewModel,
        save: Callable[[], None],
        parent: QWidget,
        ask: Callable[[QWidget | None, Path], bool] = ask_pickle_permission,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self._save = save
        self._parent = parent
        self.ask = ask

    @property
    def permissions(self) -> PicklePermissions:
        return self.session.pickle_permissions

    def allows(self, path: str | Path) -> bool:
        return self.permissions.allows(path)

    def permit(self, path: Path) -> bool:
        """Whether `path` may be used: it is no pickle, it is allowed as it is now, or the user
        allows it now (then the permission is kept and saved)."""
        if not is_pickle_file(path) or self.allows(path):
            return True
        if not self.ask(self._parent, path):
            return False
        try:
            self._set(self.permissions.allowing(path))
        except OSError:
            return False
        return True

    def forget_all(self) -> int:
        """Take back every permission; how many there were."""
        count = len(self.permissions.entries)
        self._set(PicklePermissions())
        return count

    def _set(self, permissions: PicklePermissions) -> None:
        self.session.pickle_permissions = permissions
        self._save()
        self.changed.emit()
