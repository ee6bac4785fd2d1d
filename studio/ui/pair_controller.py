"""Keeps the model picker, the session's models and the lane labels in step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from studio.core.model_resolver import display_name
from studio.core.model_roles import is_model_folder
from studio.ui.controls import ControlsColumn
from studio.ui.preview_area import PreviewArea
from studio.viewmodels.model_pairs import ModelPair, ModelPairs, alone_pair, self_pair
from studio.viewmodels.session import SessionViewModel

SELF_LANE_TITLE = "Few-step lane (the teacher, not a student)"


class PairController(QObject):
    """Applies the pair the user picks to the session, and shows the pair the session uses.

    A pair whose model is missing at start falls back to the picker's first (default) pair;
    a pair restored from a gallery image is added to the picker when it is not there yet.
    """

    def __init__(
        self,
        session: SessionViewModel,
        controls: ControlsColumn,
        preview: PreviewArea,
        show_error: Callable[[str], None],
    ) -> None:
        super().__init__(controls)
        self.session, self.controls, self.preview = session, controls, preview
        self.combo = controls.model_combo
        self.models = ModelPairs(session.models)
        self._show_error = show_error
        self._sync_timer = QTimer(self, singleShot=True, interval=0)
        self._sync_timer.timeout.connect(self.sync)
        self.combo.pairChosen.connect(self.apply)
        for signal in (
            session.teacherModelChanged,
            session.studentModelChanged,
            session.compareModeChanged,
        ):
            signal.connect(self._sync_timer.start)

    def start(self) -> None:
        """Select the session's pair; fall back to the default pair when a model is missing."""
        s = self.session
        names = [s.teacher_model] + ([s.student_model] if s.compare_mode else [])
        if all(s.models.exists(name) for name in names) or not self.combo.count():
            self.sync()
            return
        fallback = self.combo.pairs()[0]
        self._set_models(fallback)
        s.student.guidance_distilled = fallback.guidance_distilled
        s.student.step_counts = fallback.student_steps
        self._show(self.combo.show_models(*fallback.key))

    def apply(self, pair: ModelPair) -> None:
        """Use `pair` (picked by the user): its models, its student recipe, its teacher recipe
        when the teacher changes, and a fitting size."""
        s = self.session
        before = (s.teacher_model, s.student_model if s.compare_mode else None)
        if pair.teacher_recipe is not None and pair.teacher != s.teacher_model:
            s.teacher.set_recipe(pair.teacher_recipe)
        self._set_models(pair)
        s.student.guidance_distilled = pair.guidance_distilled
        s.student.step_counts = pair.student_steps
        if pair.student_recipe is not None:
            s.student.set_recipe(pair.student_recipe)
        size = self.models.size_after(pair, (s.width, s.height), before)
        if size != (s.width, s.height):
            s.width, s.height = size
        self._show(self.combo.show_models(*pair.key))

    def _set_models(self, pair: ModelPair) -> None:
        self.session.teacher_model = pair.teacher
        if pair.student is not None:
            self.session.student_model = pair.student
        self.session.compare_mode = pair.compare

    def sync(self) -> None:
        """Show the pair the session now uses (after a restore), adding it to the picker."""
        s = self.session
        student = s.student_model if s.compare_mode else None
        pair = self.combo.show_models(s.teacher_model, student)
        s.student.guidance_distilled = pair.guidance_distilled
        s.student.step_counts = pair.student_steps
        self._show(pair)

    def _show(self, pair: ModelPair) -> None:
        teacher = display_name(pair.teacher)
        student = pair.student_label or "Student"
        itself = pair.student == pair.teacher
        self.controls.teacher_panel.set_model_label(f"Model: {teacher}")
        self.controls.student_panel.setVisible(pair.compare)
        self.controls.student_panel.setTitle(SELF_LANE_TITLE if itself else "Student")
        self.controls.student_panel.set_model_label(f"Model: {student}")
        title = student if itself else f"Student · {student}"
        self.preview.set_lane_titles(f"Teacher · {teacher}", title)

    def add_folder(self, folder: Path) -> ModelPair | None:
        """Offer a local diffusers folder in the picker and use it; None when it is no model."""
        if not is_model_folder(folder):
            self._show_error(
                f"{folder} is not a diffusers model folder: it has no model_index.json."
            )
            return None
        name = str(folder.resolve())
        return self.use_model(name, as_student=self.models.is_student(name))

    def use_model(self, name: str, as_student: bool = False) -> ModelPair:
        """Offer a model (a folder or a single file) in the picker and use it: as the student
        of the current teacher, or alone (its pair with itself is offered too)."""
        if as_student:
            pairs = [self.models.student_pair(self.session.teacher_model, name)]
        else:
            pairs = [alone_pair(name), self_pair(name)]
        for pair in pairs:
            self.combo.add_pair(pair)
        self.apply(pairs[0])
        return pairs[0]

    def offer(self, names: list[str]) -> None:
        """List these models in the picker (each alone), without using any of them."""
        for name in names:
            self.combo.add_pair(alone_pair(name))
