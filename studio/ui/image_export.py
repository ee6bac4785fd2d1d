"""Copying and saving one picture: the clipboard, the Save as dialog, the PNG written atomically,
and the small Copy / Save as menu every picture offers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from studio.core.metadata import MetadataError
from studio.core.pngio import write_png
from studio.ui.images import as_rgb, to_qimage

PNG_FILTER = "PNG images (*.png)"


def copy_to_clipboard(image: np.ndarray) -> None:
    """Put `image` (uint8 HxWx3 or HxW) on the clipboard, pixel for pixel."""
    QGuiApplication.clipboard().setImage(to_qimage(image))


def image_menu(
    parent: QWidget, enabled: bool, copy: Callable[[], object], save: Callable[[], object]
) -> QMenu:
    """A context menu with Copy image and Save image as…, greyed when there is no image."""
    menu = QMenu(parent)
    menu.setObjectName("imageMenu")
    for text, slot in (("&Copy image", copy), ("&Save image as…", save)):
        action = menu.addAction(text)
        action.triggered.connect(lambda _=False, run=slot: run())
        action.setEnabled(enabled)
    return menu


def ask_png_path(parent: QWidget, title: str, suggested: Path) -> Path | None:
    """The PNG path the user chose in a Save dialog opened at `suggested`; None when cancelled.
    A name without a suffix gets ".png"."""
    chosen, _ = QFileDialog.getSaveFileName(parent, title, str(suggested), PNG_FILTER)
    if not chosen:
        return None
    path = Path(chosen)
    return path if path.suffix.lower() == ".png" else path.with_name(path.name + ".png")


def write_image_png(path: Path, image: np.ndarray, parameters: str = "") -> Path:
    """Write `image` as a PNG at `path` atomically, with `parameters` in its text chunk when
    given; OSError, MetadataError or ValueError say why not."""
    return write_png(path, np.ascontiguousarray(as_rgb(image)), parameters)


def save_failure(path: Path, exc: Exception) -> str:
    """One sentence for a PNG that could not be written."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"Could not save {path.name}: {reason.rstrip('.') or type(exc).__name__}."


SAVE_ERRORS = (OSError, MetadataError, ValueError)
