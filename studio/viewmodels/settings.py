"""The settings the studio starts from and saves on the way out."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from studio.core.engine_options import EngineOptions
from studio.core.engine_token_file import read_token, token_path, write_token
from studio.core.gallery import default_gallery_dir
from studio.core.jobs import PreviewDecoder
from studio.core.settings import (
    PreviewKind,
    SeedMode,
    Settings,
    Upscale,
    default_settings_path,
    load_settings,
    save_settings,
)

if TYPE_CHECKING:
    from studio.viewmodels.session import SessionViewModel


class SettingsViewModel(QObject):
    """Loads the settings file at start (with its corrupt-file notice), and saves snapshots."""

    changed = Signal()
    upscaleChanged = Signal(str)
    error = Signal(str)

    def __init__(
        self, path: str | os.PathLike[str] | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.path = Path(path) if path is not None else default_settings_path()
        self._settings = Settings()
        self.notice: str | None = None

    @property
    def settings(self) -> Settings:
        return self._settings

    def load(self) -> Settings:
        """Read the file; `notice` says what happened when it could not be used."""
        self._settings, self.notice = load_settings(self.path)
        self.changed.emit()
        return self._settings

    def snapshot_from(self, session: SessionViewModel) -> Settings:
        """Take the session's current values into the settings (not saved yet)."""
        self._settings = replace(
            self._settings,
            shared=session.shared_params(),
            teacher=session.teacher.recipe,
            student=session.student.recipe,
            seed_mode=SeedMode(session.seed_mode),
            batch_count=session.batch_count,
            compare_mode=session.compare_mode,
            preview_every=session.preview_every,
            preview_decoder=PreviewDecoder(session.preview_decoder),
            tiny_vae_dir=session.tiny_vae_dir,
            tiny_vae_download=session.tiny_vae_download,
            preview_kind=PreviewKind(session.teacher.preview_kind),
            teacher_model=session.teacher_model,
            student_model=session.student_model,
            pickle_permissions=session.pickle_permissions,
        )
        self.changed.emit()
        return self._settings

    def save(self) -> bool:
        """Write the settings atomically; on failure emit `error` and return False."""
        try:
            save_settings(self.path, self._settings)
        except OSError as exc:
            self.error.emit(f"Could not save the settings to {self.path}: {exc.strerror or exc}.")
            return False
        return True

    @property
    def upscale(self) -> Upscale:
        return self._settings.upscale

    @upscale.setter
    def upscale(self, value: Upscale | str) -> None:
        kind = Upscale(value)
        if kind is not self._settings.upscale:
            self._settings = replace(self._settings, upscale=kind)
            self.upscaleChanged.emit(kind.value)
            self.changed.emit()

    @property
    def output_dir(self) -> str:
        return self._settings.output_dir

    @output_dir.setter
    def output_dir(self, value: str) -> None:
        if value != self._settings.output_dir:
            self._settings = replace(self._settings, output_dir=str(value))
            self.changed.emit()

    @property
    def models_folder(self) -> str:
        """The folder the model library scans; empty when none was chosen."""
        return self._settings.models_folder

    @models_folder.setter
    def models_folder(self, value: str) -> None:
        if value != self._settings.models_folder:
            self._settings = replace(self._settings, models_folder=str(value))
            self.changed.emit()

    @property
    def engine(self) -> EngineOptions:
        """How the engine places models and how many it keeps loaded."""
        return self._settings.engine

    @engine.setter
    def engine(self, value: EngineOptions) -> None:
        if value != self._settings.engine:
            self._settings = replace(self._settings, engine=value)
            self.changed.emit()

    @property
    def welcomed(self) -> bool:
        """Whether the first-run welcome was dismissed (it is not shown again)."""
        return self._settings.welcomed

    @welcomed.setter
    def welcomed(self, value: bool) -> None:
        if bool(value) is not self._settings.welcomed:
            self._settings = replace(self._settings, welcomed=bool(value))
            self.changed.emit()

    @property
    def engine_url(self) -> str:
        """The served engine the user chose to remember; "" for none."""
        return self._settings.engine_url

    def remembered_engine(self) -> tuple[str, str]:
        """The remembered served engine's URL and token ("" each when none)."""
        url = self._settings.engine_url
        return url, read_token(self.token_path) if url else ""

    def remember_engine(self, url: str, token: str) -> bool:
        """Remember a served engine: its URL in the settings (saved now) and its token in a
        private file beside them; "" forgets both. On failure emit `error`, return False."""
        try:
            write_token(self.token_path, token if url else "")
        except OSError as exc:
            where = self.token_path
            self.error.emit(f"Could not save the engine token to {where}: {exc.strerror or exc}.")
            return False
        if url != self._settings.engine_url:
            self._settings = replace(self._settings, engine_url=url)
            self.changed.emit()
        return self.save()

    @property
    def token_path(self) -> Path:
        return token_path(self.path)

    def gallery_dir(self) -> Path:
        """Where images are saved: the chosen output folder, else the platform default."""
        chosen = self._settings.output_dir.strip()
        return Path(chosen).expanduser() if chosen else default_gallery_dir()
