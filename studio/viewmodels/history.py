"""A History entry shown in the panes: the saved image, its partner from the same comparison."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject

from studio.core.gallery import GalleryItem
from studio.core.history import (
    DENOISE_KEY,
    PARTNER_LANES,
    TIME_KEY,
    lane_of,
    partner_of,
    recorded_seconds,
)
from studio.core.jobs import Lane
from studio.core.metadata import MetadataError, ParsedParameters
from studio.core.metrics import psnr, speedup, ssim
from studio.core.pngio import read_image
from studio.viewmodels.comparison import format_summary

if TYPE_CHECKING:
    from studio.viewmodels.session import SessionViewModel

LIVE_WINS = "the panes keep showing the generation in progress"


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryImage:
    """One saved image as a pane shows it: its pixels (None with the reason) and what it says."""

    path: Path
    lane: Lane
    parsed: ParsedParameters | None
    image: np.ndarray | None
    problem: str = ""
    total_s: float | None = None
    denoise_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEntry:
    """The clicked image and, for a comparison, its partner: one per pane (None: no image)."""

    chosen: Path
    teacher: HistoryImage | None
    student: HistoryImage | None
    speedup: float = math.nan
    psnr: float = math.nan
    ssim: float = math.nan

    @property
    def paired(self) -> bool:
        return self.teacher is not None and self.student is not None

    @property
    def summary(self) -> str:
        """The comparison line of the pair; what was not recorded is said, never guessed."""
        if not self.paired:
            return ""
        known = format_summary(self.speedup, self.psnr, self.ssim)
        if math.isnan(self.speedup):
            known = " · ".join(part for part in ("speed-up not recorded", known) if part)
        return f"From history · {known}"


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryChoice:
    """What choosing an entry did: the entry to show (None while a generation runs) and a line
    for the status bar."""

    entry: HistoryEntry | None
    status: str


def history_image(item: GalleryItem) -> HistoryImage:
    extra = item.parsed.extra if item.parsed is not None else {}
    try:
        image, problem = read_image(item.path), ""
    except MetadataError as exc:
        image, problem = None, str(exc)
    return HistoryImage(
        path=item.path,
        lane=Lane(lane_of(item)),
        parsed=item.parsed,
        image=image,
        problem=problem,
        total_s=recorded_seconds(extra, TIME_KEY),
        denoise_s=recorded_seconds(extra, DENOISE_KEY),
    )


def entry_of(item: GalleryItem, items: list[GalleryItem]) -> HistoryEntry:
    """`item` in its lane's pane (main goes to the teacher's), its partner in the other."""
    partner = partner_of(item, items)
    shown = [history_image(found) for found in (item, partner) if found is not None]
    student = next((image for image in shown if image.lane is Lane.student), None)
    teacher = next((image for image in shown if image.lane is not Lane.student), None)
    entry = HistoryEntry(chosen=item.path, teacher=teacher, student=student)
    if teacher is None or student is None:
        return entry
    return HistoryEntry(
        chosen=item.path,
        teacher=teacher,
        student=student,
        speedup=_speedup(teacher, student),
        **_similarity(teacher.image, student.image),
    )


def _speedup(teacher: HistoryImage, student: HistoryImage) -> float:
    if teacher.total_s is None or student.total_s is None:
        return math.nan
    return speedup(teacher.total_s, student.total_s)


def _similarity(a: np.ndarray | None, b: np.ndarray | None) -> dict[str, float]:
    if a is None or b is None or a.shape != b.shape:
        return {}
    return {"psnr": psnr(a, b), "ssim": ssim(a, b)}


class HistoryViewModel(QObject):
    """Turns a chosen History entry into what the panes show, unless a generation is running:
    a live generation always keeps the panes, and the status line says so."""

    def __init__(self, session: SessionViewModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._last: HistoryEntry | None = None
        session.gallery.changed.connect(self._forget)

    def _forget(self) -> None:
        self._last = None

    def choose(self, row: int, *, restore: bool) -> HistoryChoice:
        """Show entry `row`, restoring its parameters first when asked (a click, Enter)."""
        items = self.session.gallery.items
        if not 0 <= row < len(items):
            return HistoryChoice(entry=None, status="")
        item = items[row]
        name = item.path.name
        if not restore:
            done = f"{name} is selected (Enter restores its parameters)"
        elif self.session.gallery.restore(row) is not None:
            done = f"Restored the parameters of {name}{self._restore_partner(item, items)}"
        else:
            done = f"{name} has no parameters to restore"
        if self.session.generating:
            return HistoryChoice(entry=None, status=f"{done}; {LIVE_WINS}.")
        entry = self._entry(item, items)
        return HistoryChoice(entry=entry, status=self._status(entry, done if restore else ""))

    def _restore_partner(self, item: GalleryItem, items: list[GalleryItem]) -> str:
        """Restore the other lane of `item`'s comparison too, so Generate reproduces both panes;
        an image made alone turns compare mode off. The words to add to the status line."""
        lane = lane_of(item)
        if lane == Lane.main.value:
            self.session.compare_mode = False
            return ""
        partner = partner_of(item, items)
        if partner is None or partner.parsed is None:
            return f" (its {PARTNER_LANES[lane]} partner is not in the history)"
        told = item.parsed.warnings if item.parsed is not None else ()
        self.session.gallery.restore(items.index(partner), told)
        self.session.compare_mode = True
        return " and of its partner"

    def _entry(self, item: GalleryItem, items: list[GalleryItem]) -> HistoryEntry:
        """The entry of `item`; moving between the two images of one pair reads them once."""
        last = self._last
        shown = {image.path for image in (last.teacher, last.student) if image} if last else set()
        if last is not None and item.path in shown:
            self._last = replace(last, chosen=item.path)
        else:
            self._last = entry_of(item, items)
        return self._last

    @staticmethod
    def _status(entry: HistoryEntry, done: str) -> str:
        shown = [image for image in (entry.teacher, entry.student) if image is not None]
        chosen = next(image for image in shown if image.path == entry.chosen)
        partner = next((image for image in shown if image is not chosen), None)
        with_partner = ""
        if partner is not None:
            with_partner = f" with its {partner.lane.value} partner {partner.path.name}"
        if done:
            return f"{done}; the panes show it{with_partner}."
        return (
            f"Showing {entry.chosen.name} from history{with_partner}"
            " (Enter restores its parameters)."
        )
