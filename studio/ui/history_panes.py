"""A History entry in the Compare panes: captions that say so, and the strip's choices routed."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QTabWidget

from studio.core.history import PARTIAL_KEY
from studio.core.jobs import Lane
from studio.ui.gallery_strip import GalleryStrip
from studio.ui.preview_area import PaneOverride, PreviewArea
from studio.viewmodels.history import HistoryChoice, HistoryEntry, HistoryImage, HistoryViewModel
from studio.viewmodels.session import SessionViewModel

STRIP_NOTE = "history image: no steps kept"


def history_caption(lane: Lane, image: HistoryImage | None) -> str:
    """E.g. "Teacher · from history · studio-0003.png · 25 steps · total 0.26 s · DDIM · CFG 5":
    as a finished lane's caption, with the file name, and the recipe after the times."""
    title = f"{lane.value.capitalize()} · from history"
    if image is None:
        return f"{title} · no {lane.value} image for this entry"
    text = f"{title} · {image.path.name}"
    if image.image is None:
        return f"{text} · could not be read"
    parsed = image.parsed
    params = parsed.params if parsed is not None else None
    if parsed is not None and PARTIAL_KEY in parsed.extra:
        text += f" · partial, {parsed.extra[PARTIAL_KEY]}"
    elif params is not None:
        text += f" · {params.num_inference_steps} steps"
    text += f" · total {image.total_s:.2f} s" if image.total_s is not None else ""
    if params is not None:
        text += f" · {params.sampler} · CFG {params.guidance_scale:g}"
        skip = params.skip_tuning
        text += f" · skip {skip.label()}" if skip.enabled else ""
    return text


def history_placeholder(lane: Lane, image: HistoryImage | None) -> str:
    if image is None:
        return f"No {lane.value} image for this history entry"
    return image.problem


def history_override(entry: HistoryEntry, compare_mode: bool) -> PaneOverride:
    """The entry as the panes show it: one lane alone only when the window shows one lane."""
    teacher, student = entry.teacher, entry.student
    return PaneOverride(
        left=(teacher.image if teacher else None, history_caption(Lane.teacher, teacher)),
        right=(student.image if student else None, history_caption(Lane.student, student)),
        summary=entry.summary,
        names=("Teacher", "Student"),
        placeholders=(
            history_placeholder(Lane.teacher, teacher),
            history_placeholder(Lane.student, student),
        ),
        single=not compare_mode and student is None,
        strip_note=STRIP_NOTE,
    )


class HistoryPanes(QObject):
    """Shows the History entry the user clicked or moved to in the Compare panes (a running
    generation keeps them), and puts what happened on the status line."""

    def __init__(
        self,
        session: SessionViewModel,
        strip: GalleryStrip,
        tabs: QTabWidget,
        preview: PreviewArea,
        status: Callable[[str], None],
    ) -> None:
        super().__init__(preview)
        self.session = session
        self.history = HistoryViewModel(session, self)
        self.tabs, self.preview = tabs, preview
        self._status = status
        strip.entryChosen.connect(self.choose)

    def choose(self, row: int, restore: bool) -> HistoryChoice:
        choice = self.history.choose(row, restore=restore)
        if choice.entry is not None:
            self.preview.show_override(history_override(choice.entry, self.session.compare_mode))
            self.tabs.setCurrentWidget(self.preview)
        if choice.status:
            self._status(choice.status)
        return choice
