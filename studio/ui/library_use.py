"""Putting Models-tab entries to use: a model on a lane, a LoRA file as the student adapter."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject

from studio.core.model_library import split_model_name
from studio.ui.pair_controller import PairController
from studio.ui.pickle_opt_in import PickleOptIn
from studio.viewmodels.library_students import adapter_student
from studio.viewmodels.model_library import ModelLibraryViewModel
from studio.viewmodels.model_pairs import ModelPair


class LibraryUse(QObject):
    """Applies the Models tab's requests to the session through the pair controller.

    A pickle checkpoint is used only after the user allows that one file (declining leaves
    the lanes as they were); a LoRA file becomes the student of the current teacher, refused
    in one sentence when it was made for another family.
    """

    def __init__(
        self,
        library: ModelLibraryViewModel,
        pairs: PairController,
        pickles: PickleOptIn,
        set_status: Callable[[str], None],
        show_error: Callable[[str], None],
    ) -> None:
        super().__init__(pairs)
        self.library, self.pairs, self.pickles = library, pairs, pickles
        self._set_status, self._show_error = set_status, show_error

    def use_model(self, name: str, as_student: bool) -> ModelPair | None:
        """Use a folder or single file on a lane; None when the user kept a pickle out."""
        path = Path(split_model_name(name)[0]).expanduser()
        if not self.pickles.permit(path):
            self._set_status(f"Nothing changed: {path.name} was not allowed.")
            return None
        pair = self.pairs.use_model(name, as_student)
        self._set_status(f"Using {pair.label}.")
        return pair

    def use_adapter(self, path: str) -> ModelPair | None:
        """The current teacher with the LoRA file at `path` on the student lane."""
        entry = next((e for e in self.library.entries if e.path == path), None)
        if entry is None:
            self._show_error(f"{path} is not in the models folder any more: rescan it.")
            return None
        session = self.pairs.session
        try:
            student = adapter_student(session.models, session.teacher_model, entry)
        except ValueError as exc:
            self._show_error(str(exc))
            return None
        pair = self.pairs.use_model(student, as_student=True)
        self._set_status(f"Using {pair.label}.")
        return pair

    def forget_pickles(self) -> None:
        count = self.pickles.forget_all()
        files = "1 pickle file" if count == 1 else f"{count} pickle files"
        self._set_status(f"Forgot the permissions of {files}; you will be asked again.")
