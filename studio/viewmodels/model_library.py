"""The model library: the models folder the user picked and what a scan of it found."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from studio.core.model_library import EntryKind, LibraryEntry, scan_models_folder


class ModelLibraryViewModel(QObject):
    """Holds the chosen models folder and its scanned entries; `scan` reads file headers only."""

    folderChanged = Signal(str)
    entriesChanged = Signal()

    def __init__(self, folder: str = "", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._folder = folder
        self.entries: tuple[LibraryEntry, ...] = ()

    @property
    def folder(self) -> str:
        return self._folder

    def set_folder(self, folder: str) -> None:
        """Use `folder` (empty for none) and scan it."""
        if folder != self._folder:
            self._folder = folder
            self.folderChanged.emit(folder)
        self.scan()

    def scan(self) -> tuple[LibraryEntry, ...]:
        self.entries = scan_models_folder(Path(self._folder)) if self._folder else ()
        self.entriesChanged.emit()
        return self.entries

    def loadable(self) -> list[LibraryEntry]:
        return [e for e in self.entries if e.loadable]

    def models(self) -> list[LibraryEntry]:
        """The loadable entries that are whole models (not student adapters)."""
        return [e for e in self.loadable() if e.kind is not EntryKind.adapter]

    def summary(self) -> str:
        """'12 models found, 9 loadable, in /data/models' (or why there are none)."""
        if not self._folder:
            return "No models folder chosen."
        if not self.entries:
            return f"No models found in {self._folder}."
        count = len(self.entries)
        found = "1 model" if count == 1 else f"{count} models"
        return f"{found} found, {len(self.loadable())} loadable, in {self._folder}."
