"""The centre of the window: both lanes forming live, their progress, and their step strips."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.settings import PreviewKind
from studio.ui.comparison import SEGMENT_STYLE, ComparisonWidget
from studio.ui.progress import LaneProgress, LaneState
from studio.ui.step_strip import StepStrip
from studio.viewmodels.lane import LaneEnd, LaneViewModel
from studio.viewmodels.session import SessionViewModel

KIND_LABELS = {PreviewKind.x0: "Predicted x0", PreviewKind.xt: "Noisy x_t"}
KIND_TIPS = {
    PreviewKind.x0: "Show the model's guess of the clean image at each step",
    PreviewKind.xt: "Show the noisy sample x_t the sampler is walking through",
}
Pane = tuple[np.ndarray | None, str]
CELL_STRIP_NOTE = "grid cell: no steps kept"
STALE_NOTE = "not part of the last run"


@dataclass(frozen=True, slots=True, kw_only=True)
class PaneOverride:
    """Pictures from elsewhere (grid cells, a History entry) shown instead of the lanes' until a
    lane runs again: what the panes, the difference view and the summary say, and with a
    `strip_note` the step strips are emptied with that note instead of keeping the lanes' steps."""

    left: Pane
    right: Pane
    summary: str
    names: tuple[str, str] = ("Pinned", "Cell")
    placeholders: tuple[str, str] = ("", "")
    single: bool = False
    strip_note: str = ""


def lane_caption(title: str, lane: LaneViewModel, scrubbed: int | None = None) -> str:
    """The pane's caption: the recipe when idle, the step (or what it prepares) while running,
    the times when done."""
    if lane.preparing:
        return f"{title} · {lane.status}"
    if lane.running:
        if not lane.step:
            return f"{title} · waiting"
        if scrubbed is not None:
            return f"{title} · showing step {scrubbed} · running, step {lane.step}/{lane.total}"
        return f"{title} · step {lane.step}/{lane.total}"
    timings = lane.timings
    if timings is not None and lane.images:
        showing = f"showing step {scrubbed} of {lane.steps}" if scrubbed is not None else ""
        text = f"{title} · {showing or f'{lane.steps} steps'}"
        text += f" · total {timings.total_s:.2f} s · denoise {timings.denoise_s:.2f} s"
        used = lane.result_params.skip_tuning if lane.result_params is not None else None
        text += f" · skip {used.label()}" if used is not None and used.enabled else ""
        return text + (" · partial" if lane.partial else "")
    never_began = not lane.step and lane.preparation is None
    if lane.job_id and never_began and lane.ended in (LaneEnd.stopped, LaneEnd.cancelled):
        return f"{title} · did not run: the job was {lane.ended.value} before this lane began"
    skip = lane.skip_tuning
    return (
        f"{title} · {lane.sampler} · {lane.num_inference_steps} steps · CFG {lane.guidance_scale:g}"
        + (f" · skip {skip.label()}" if skip.enabled else "")
    )


def end_state(lane: LaneViewModel) -> LaneState:
    """How a lane's run ended, as a LaneProgress state."""
    if lane.images and not lane.partial:
        return "done"
    if lane.ended in (LaneEnd.failed, LaneEnd.engine_stopped):
        return "failed"
    return "stopped" if lane.partial or lane.ended is LaneEnd.stopped else "cancelled"


class LaneFollower(QObject):
    """Follows one lane view-model into its progress bar, its step strip and its pane image.

    While the lane runs, each kept preview joins the strip as it arrives; the pane shows the
    live preview unless the user picked an earlier frame (`scrubbed`).
    """

    def __init__(
        self,
        lane: LaneViewModel,
        progress: LaneProgress,
        strip: StepStrip,
        changed: Callable[[bool], None],
    ) -> None:
        super().__init__(progress)
        self.lane, self.progress, self.strip = lane, progress, strip
        self.title = lane.lane.value.capitalize()
        self.run_title = ""
        self.scrubbed: int | None = None
        self.frames: dict[int, np.ndarray] = {}
        self.held = ""
        self._changed = changed
        lane.progressChanged.connect(self._on_progress)
        lane.etaSecondsChanged.connect(self._on_progress)
        lane.runningChanged.connect(self._on_running)
        lane.statusChanged.connect(self._on_status)
        lane.preparationChanged.connect(self._on_preparation)
        lane.previewChanged.connect(self._on_preview)
        lane.finished.connect(self._fill_strip)
        lane.previewKindChanged.connect(self._on_kind)
        lane.recipeChanged.connect(self._on_recipe)
        strip.frameSelected.connect(self._on_frame)

    def image(self) -> np.ndarray | None:
        if self.scrubbed is not None and self.scrubbed in self.frames:
            return self.frames[self.scrubbed]
        return self.lane.current_image()

    def caption(self) -> str:
        """The lane's caption, under the title its run had (a later change of models must not
        relabel an image made by other ones)."""
        shows_run = self.lane.running or bool(self.lane.images) or bool(self.lane.job_id)
        title = self.run_title if shows_run and self.run_title else self.title
        return lane_caption(title, self.lane, self.scrubbed)

    def _on_progress(self, *_: object) -> None:
        eta = self.lane.eta_s
        self.progress.set_progress(
            self.lane.step, self.lane.total, None if math.isnan(eta) else eta
        )
        self._changed(False)

    def _on_recipe(self) -> None:
        self._changed(False)

    def hold(self, note: str) -> None:
        """Empty the step strip with `note` and idle the bar (the panes show a picture of no
        run) until `release`."""
        self.held = note
        self.scrubbed = None
        self.frames = {}
        self.strip.show_note(note)
        self.progress.set_state("idle")

    def release(self) -> None:
        if not self.held:
            return
        self.held = ""
        if self.lane.running or not self.lane.job_id:
            return
        self.progress.set_progress(self.lane.step, self.lane.total)
        self.progress.set_state(end_state(self.lane))
        self._fill_strip()

    def _on_running(self, running: bool) -> None:
        if running:
            self.held = ""
            self.run_title = self.title
            self.scrubbed = None
            self.frames = {}
            self.strip.set_frames([])
            self.progress.set_state("idle")
            self.progress.set_progress(self.lane.step, self.lane.total)
        else:
            self.progress.set_state(end_state(self.lane))
            self._fill_strip()
        self._changed(True)

    def _on_preparation(self) -> None:
        prepared = self.lane.preparation
        if prepared is not None and self.lane.running:
            self.progress.set_preparing(prepared.done, prepared.total, self.lane.status)
            self._changed(False)

    def _on_status(self, _status: str) -> None:
        if self.lane.preparing:
            self._on_preparation()
        elif not self.lane.running and self.progress.state() != "idle":
            self.progress.set_state(end_state(self.lane))
            self._changed(False)

    def _on_preview(self) -> None:
        if self.lane.running and not self.held:
            self._add_new_previews()
        self._changed(True)

    def _add_new_previews(self) -> None:
        """Add the lane's new previews to the strip; when the lane has thinned its history,
        show what it kept instead, so the strip holds no more frames than the lane (a picked
        frame that was dropped gives way to the nearest kept one)."""
        lane = self.lane
        if any(step not in lane.history for step in self.frames):
            picked = self.scrubbed
            if picked is not None and picked not in lane.history:
                self.scrubbed = min(lane.history, key=lambda s: abs(s - picked), default=None)
            self._refill_running()
            return
        for step in sorted(step for step in lane.history if step not in self.frames):
            image = lane.preview_at(step)
            if image is not None:
                self.frames[step] = image
                self.strip.add_frame(step, image)

    def _on_kind(self, _kind: str) -> None:
        if not self.lane.running:
            self._fill_strip()
        elif not self.held:
            self._refill_running()
        self._changed(True)

    def _refill_running(self) -> None:
        """The kept previews so far in the new kind, keeping a picked frame picked."""
        scrubbed = self.scrubbed
        self.frames = self._kept_frames(with_final=False)
        self.strip.set_frames(sorted(self.frames.items()))
        if scrubbed is not None:
            self.strip.select_step(scrubbed)

    def _fill_strip(self) -> None:
        """Every kept preview, with the final image as the last step."""
        if self.held:
            return
        self.frames = self._kept_frames(with_final=True)
        self.strip.set_frames(sorted(self.frames.items()))
        self.scrubbed = None

    def _kept_frames(self, *, with_final: bool) -> dict[int, np.ndarray]:
        """The kept previews in the current kind, and the final image as its step if asked."""
        lane = self.lane
        frames = {step: lane.preview_at(step) for step in lane.history_steps}
        if with_final and lane.image is not None and lane.steps:
            frames[lane.steps] = lane.image
        return {step: image for step, image in frames.items() if image is not None}

    def _on_frame(self, step: int) -> None:
        self.scrubbed = None if step == max(self.frames, default=step) else step
        self._changed(True)


class PreviewArea(QWidget):
    """Shows teacher and student panes with each lane's progress, step strip and x0/x_t toggle."""

    def __init__(self, session: SessionViewModel) -> None:
        super().__init__()
        self.session = session
        self.comparison = ComparisonWidget()
        self.lane_titles = {"teacher": "Teacher", "student": "Student"}
        self.placeholders = ("Teacher: no image yet", "Student: no image yet")
        self.pair: PaneOverride | None = None
        self.progress = {name: LaneProgress(title) for name, title in self.lane_titles.items()}
        self.strips = {name: StepStrip(thumb_size=40) for name in self.lane_titles}
        for name in self.lane_titles:
            self.progress[name].setObjectName(f"{name}Progress")
            self.strips[name].setObjectName(f"{name}Strip")
        self.followers = {
            "teacher": LaneFollower(
                session.teacher, self.progress["teacher"], self.strips["teacher"], self.refresh
            ),
            "student": LaneFollower(
                session.student, self.progress["student"], self.strips["student"], self.refresh
            ),
        }
        self._kind_toggle()
        self._layout()
        session.comparison.summaryChanged.connect(self._on_summary)
        session.compareModeChanged.connect(self._on_compare_mode)
        session.teacher.runningChanged.connect(self._on_lane_running)
        session.student.runningChanged.connect(self._on_lane_running)
        self._on_compare_mode(session.compare_mode)
        self.refresh()

    def _kind_toggle(self) -> None:
        self.kind_buttons: dict[PreviewKind, QToolButton] = {}
        self._kind_group = QButtonGroup(self)
        self.kind_box = QWidget()
        self.kind_box.setObjectName("previewKindToggle")
        self.kind_box.setStyleSheet(SEGMENT_STYLE)
        row = QHBoxLayout(self.kind_box)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        for index, kind in enumerate(PreviewKind):
            button = QToolButton()
            button.setText(KIND_LABELS[kind])
            button.setToolTip(KIND_TIPS[kind])
            button.setCheckable(True)
            button.setObjectName("segmentFirst" if index == 0 else "segmentLast")
            button.clicked.connect(lambda _=False, k=kind: self.set_preview_kind(k))
            self._kind_group.addButton(button)
            self.kind_buttons[kind] = button
            row.addWidget(button)
        self.kind_buttons[PreviewKind(self.session.teacher.preview_kind)].setChecked(True)

    def _layout(self) -> None:
        lanes = QGridLayout()
        lanes.setContentsMargins(4, 0, 4, 0)
        lanes.setHorizontalSpacing(12)
        lanes.setVerticalSpacing(2)
        for index, name in enumerate(self.lane_titles):
            lanes.addWidget(self.progress[name], 0, index)
            lanes.addWidget(self.strips[name], 1, index)
        toggle_row = QHBoxLayout()
        toggle_row.setContentsMargins(4, 0, 4, 0)
        toggle_row.addWidget(QLabel("Previews show"))
        toggle_row.addWidget(self.kind_box)
        toggle_row.addStretch(1)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(4)
        column.addWidget(self.comparison, 1)
        column.addLayout(toggle_row)
        column.addLayout(lanes)

    def set_preview_kind(self, kind: PreviewKind | str) -> None:
        kind = PreviewKind(kind)
        for lane in (self.session.teacher, self.session.student):
            lane.preview_kind = kind
        self.kind_buttons[kind].setChecked(True)

    def set_lane_titles(self, teacher: str, student: str) -> None:
        self.followers["teacher"].title = teacher
        self.followers["student"].title = student
        self.placeholders = (f"{teacher}: no image yet", f"{student}: no image yet")
        if self.pair is None:
            self._set_placeholders(self.placeholders)
        self.refresh()

    def _set_placeholders(self, texts: tuple[str, str]) -> None:
        self.comparison.teacher_view.set_placeholder(texts[0])
        self.comparison.student_view.set_placeholder(texts[1])

    def show_pair(self, left: Pane, right: Pane, summary: str) -> None:
        """Show two pictures from elsewhere (e.g. grid cells) until a lane runs again."""
        self.show_override(
            PaneOverride(left=left, right=right, summary=summary, strip_note=CELL_STRIP_NOTE)
        )

    def show_override(self, override: PaneOverride) -> None:
        self.clear_pair()
        self.pair = override
        self.comparison.set_names(*override.names)
        self.comparison.set_single_lane(override.single)
        left, right = override.placeholders
        self._set_placeholders((left or self.placeholders[0], right or self.placeholders[1]))
        if override.strip_note:
            for follower in self.followers.values():
                follower.hold(override.strip_note)
        self.refresh()
        self.comparison.set_summary(override.summary)

    def clear_pair(self) -> None:
        if self.pair is not None:
            self.pair = None
            self.comparison.set_names("Teacher", "Student")
            self._set_placeholders(self.placeholders)
            for follower in self.followers.values():
                follower.release()
            self._on_compare_mode(self.session.compare_mode)
            self.refresh()

    def _on_lane_running(self, running: bool) -> None:
        if running:
            self.clear_pair()
        self._hold_stale_student()

    def student_is_stale(self) -> bool:
        """The student lane's last run belongs to another job than the teacher's (the teacher
        ran alone since): it must not be shown beside the teacher as its partner."""
        teacher, student = self.session.teacher.job_id, self.session.student.job_id
        return bool(teacher) and student != teacher

    def _hold_stale_student(self) -> None:
        follower = self.followers["student"]
        if self.pair is None and self.student_is_stale() and not follower.held:
            follower.hold(STALE_NOTE)

    def refresh(self, images: bool = True) -> None:
        """Show the lanes' captions, and their images too unless only the text changed."""
        if self.pair is not None:
            (left, left_caption), (right, right_caption) = self.pair.left, self.pair.right
            if images:
                self.comparison.set_images(left, right)
            self.comparison.set_captions(left_caption, right_caption)
            return
        teacher, student = self.followers["teacher"], self.followers["student"]
        stale = self.student_is_stale()
        if images:
            self.comparison.set_images(teacher.image(), None if stale else student.image())
        stale_caption = f"{student.title} · {STALE_NOTE} (the teacher ran alone)"
        self.comparison.set_captions(
            teacher.caption(), stale_caption if stale else student.caption()
        )

    def _on_summary(self, _summary: str) -> None:
        if self.pair is None and self.session.compare_mode:
            self.comparison.set_summary(self.comparison_summary())

    def _on_compare_mode(self, compare: bool) -> None:
        self.comparison.set_single_lane(self.pair.single if self.pair else not compare)
        self.progress["student"].setVisible(compare)
        self.strips["student"].setVisible(compare)
        if self.pair is None:
            self._hold_stale_student()
            self.comparison.set_summary(self.comparison_summary() if compare else "")

    def comparison_summary(self) -> str:
        """The summary of the comparison the panes show: only when both lanes show its job."""
        s = self.session
        job = s.teacher.job_id
        shown = bool(job) and s.student.job_id == job and s.comparison.job_id == job
        return s.comparison.summary if shown else ""
