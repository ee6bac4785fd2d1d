"""The "Save again" button: shown while finished images wait in memory for a writable folder."""

from __future__ import annotations

from PySide6.QtWidgets import QPushButton

from studio.viewmodels.gallery import GalleryViewModel


class SaveAgainButton(QPushButton):
    """Offers to retry the images the gallery could not write, and says how many wait."""

    def __init__(self, gallery: GalleryViewModel) -> None:
        super().__init__()
        self.setObjectName("saveAgainButton")
        self.gallery = gallery
        self.clicked.connect(self.save_again)
        gallery.unsavedChanged.connect(self._show_count)
        self._show_count(len(gallery.unsaved))

    def save_again(self) -> int:
        return self.gallery.save_again()

    def _show_count(self, count: int) -> None:
        self.setText(f"Save again ({count})" if count > 1 else "Save again")
        self.setToolTip(
            f"{count} finished image{'s' if count != 1 else ''} could not be saved and "
            "wait in memory: free some space or choose another folder, then save again."
        )
        self.setVisible(count > 0)
