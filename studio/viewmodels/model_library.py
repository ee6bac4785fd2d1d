"""The model library: the built-in models, the models folder the user picked and what a scan of
it found."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from studio.core.model_library import EntryKind, LibraryEntry, scan_models_folder
from studio.core.paths import models_dir

BUILTIN_NOTE = "Ships with Studio."


def builtin_entries(root: Path) -> tuple[LibraryEntry, ...]:
    """The models shipped in `root`, marked built-in and named by their embedded names."""
    return tuple(
        replace(entry, builtin=True, note=f"{BUILTIN_NOTE} {entry.note}".strip())
        for entry in scan_models_folder(root)
        if "/" not in entry.name and "\\" not in entry.name
    )


class ModelLibraryViewModel(QObject):
    """Holds the chosen models folder and its scanned entries, followed by the built-in models
    (listed even when no folder is chosen); `scan` reads file headers only."""

    folderChanged = Signal(str)
    entriesChanged = Signal()

    def __init__(
        self, folder: str = "", parent: QObject | None = None, *, builtin_root: Path | None = None
    ) -> None:
        super().__init__(parent)
        self._folder = folder
        self._builtin_root = models_dir() if builtin_root is None else builtin_root
        self.builtins = builtin_entries(self._builtin_root)
        self.entries: tuple[LibraryEntry, ...] = self.builtins

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
        """Scan the folder (and the built-in models) again; every entry, the folder's first."""
        found = scan_models_folder(Path(self._folder)) if self._folder else ()
        self.builtins = builtin_entries(self._builtin_root)
        self.entries = found + self.builtins
        self.entriesChanged.emit()
        return self.entries

    def folder_entries(self) -> list[LibraryEntry]:
        return [e for e in self.entries if not e.builtin]

    def loadable(self) -> list[LibraryEntry]:
        return [e for e in self.entries if e.loadable]

    def models(self) -> list[LibraryEntry]:
        """The folder's loadable entries that are whole models (not student adapters); the
        built-in models are in the model picker already."""
        return [e for e in self.loadable() if e.kind is not EntryKind.adapter and not e.builtin]

    def summary(self) -> str:
        """'12 models found, 9 loadable, in /data/models' (or why there are none)."""
        builtins = " The built-in models are listed." if self.builtins else ""
        if not self._folder:
            return f"No models folder chosen.{builtins}"
        entries = self.folder_entries()
        if not entries:
            return f"No models found in {self._folder}.{builtins}"
        found = "1 model" if len(entries) == 1 else f"{len(entries)} models"
        loadable = sum(e.loadable for e in entries)
        return f"{found} found, {loadable} loadable, in {self._folder}."
