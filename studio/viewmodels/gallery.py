"""The gallery: finished images saved as PNGs, restoring their parameters, importing others'."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from PySide6.QtCore import QObject, Signal

from studio.core.events import LaneFinished
from studio.core.gallery import DEFAULT_LIMIT, GalleryItem, GalleryStore
from studio.core.history import BATCH_KEY, LANE_KEY, PARTIAL_KEY, partner_of, run_extra
from studio.core.metadata import MetadataError, ParsedParameters
from studio.core.params import GenerationParams
from studio.core.png_parameters import TOOLS, read_png_parameters
from studio.core.pngio import read_image
from studio.viewmodels.model_presets import adapter_note, model_name_of

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
__all__ = ["LANE_KEY", "GalleryViewModel", "ParamsTarget", "UnsavedImage"]


class ParamsTarget(Protocol):
    """Whatever takes restored parameters: the session."""

    def apply_parameters(self, parsed: ParsedParameters) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsavedImage:
    """A finished image that could not be written yet, with what its PNG should say."""

    image: np.ndarray
    params: GenerationParams
    model: str
    extra: dict[str, str] = field(default_factory=dict)


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).rstrip(".") or type(exc).__name__


def pixel_digest(image: np.ndarray) -> str:
    """A fingerprint of an image's size and pixels: equal digests mean equal pictures."""
    data = np.ascontiguousarray(image)
    return hashlib.blake2b(repr(data.shape).encode() + data.tobytes(), digest_size=16).hexdigest()


def _file_key(path: Path) -> tuple[str, float] | None:
    try:
        return str(path), path.stat().st_mtime
    except OSError:
        return None


def _unsaved_of(event: LaneFinished) -> list[UnsavedImage]:
    extra = run_extra(lane=event.lane, job_id=event.job_id, timings=event.timings)
    extra |= adapter_note(event.model)
    if event.partial:
        extra[PARTIAL_KEY] = f"stopped after {event.steps} steps"
    many = len(event.images) > 1
    return [
        UnsavedImage(
            image=image,
            params=event.params,
            model=model_name_of(event.model),
            extra={**extra, BATCH_KEY: str(index)} if many else dict(extra),
        )
        for index, image in enumerate(event.images)
    ]


class GalleryViewModel(QObject):
    """Saves each finished job's images through a GalleryStore and keeps the list, newest first.

    The session feeds it: `collect` each LaneFinished, then `commit` or `drop` the job when its
    final event arrives. Images that cannot be written stay in memory until `save_again`.
    """

    changed = Signal()
    saved = Signal(object)
    error = Signal(str)
    notice = Signal(str)
    unsavedChanged = Signal(int)

    def __init__(
        self, store: GalleryStore, target: ParamsTarget | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.target = target
        self._items: list[GalleryItem] = []
        self._unsaved: list[UnsavedImage] = []
        self._collected: dict[str, list[LaneFinished]] = {}
        self._digests: dict[tuple[str, float], str] = {}

    @property
    def items(self) -> list[GalleryItem]:
        return list(self._items)

    @property
    def unsaved(self) -> list[UnsavedImage]:
        return list(self._unsaved)

    def load(self) -> None:
        """Read the gallery folder (at start, or after the folder changed)."""
        self._items = self.store.items(DEFAULT_LIMIT)
        self.changed.emit()

    # --- saving -------------------------------------------------------------------------------

    def collect(self, event: LaneFinished) -> None:
        self._collected.setdefault(event.job_id, []).append(event)

    def drop(self, job_id: str) -> None:
        self._collected.pop(job_id, None)

    def commit(self, job_id: str, *, include_partial: bool) -> None:
        """Save the collected lanes of a job that ended; partial lanes only when asked."""
        lanes = self._collected.pop(job_id, [])
        batch = [
            unsaved
            for event in lanes
            if include_partial or not event.partial
            for unsaved in _unsaved_of(event)
        ]
        if batch:
            self._unsaved += batch
            self._write_unsaved()

    def save_again(self) -> int:
        """Retry the images that could not be saved; how many are saved now."""
        return self._write_unsaved()

    def _write_unsaved(self) -> int:
        written = 0
        while self._unsaved:
            unsaved = self._unsaved[0]
            try:
                item = self.store.save(
                    unsaved.image, unsaved.params, model=unsaved.model, extra=unsaved.extra
                )
            except (OSError, MetadataError, ValueError) as exc:
                self._report_failure(unsaved, exc)
                break
            self._unsaved.pop(0)
            self._remember_digest(item.path, unsaved.image)
            self._items = [item, *self._items][:DEFAULT_LIMIT]
            written += 1
            self.saved.emit(item)
        if written:
            self.changed.emit()
        self.unsavedChanged.emit(len(self._unsaved))
        return written

    def _report_failure(self, unsaved: UnsavedImage, exc: Exception) -> None:
        lane = unsaved.extra.get(LANE_KEY, "")
        what = f"the {lane} image" if lane else "the image"
        self.error.emit(
            f"Could not save {what} to {self.store.folder} ({_reason(exc)}), so it is kept in"
            " memory: free some space or choose another output folder, then press Save again."
        )

    # --- finding, deleting -------------------------------------------------------------------

    def _remember_digest(self, path: Path, image: np.ndarray) -> None:
        key = _file_key(path)
        if key is not None:
            self._digests[key] = pixel_digest(image)

    def _digest_of(self, path: Path) -> str:
        key = _file_key(path)
        if key is None:
            return ""
        if key not in self._digests:
            try:
                self._digests[key] = pixel_digest(read_image(path))
            except MetadataError:
                self._digests[key] = ""
        return self._digests[key]

    def source_of(self, image: np.ndarray) -> GalleryItem | None:
        """The listed image with exactly these pixels (newest first), e.g. to save a copy with
        its parameters; each file is read at most once while it is unchanged."""
        digest = pixel_digest(image)
        return next((item for item in self._items if self._digest_of(item.path) == digest), None)

    def entry_items(self, index: int) -> list[GalleryItem]:
        """The image at `index` and, for a comparison, its partner from the other lane."""
        if not 0 <= index < len(self._items):
            return []
        item = self._items[index]
        partner = partner_of(item, self._items)
        return [item] if partner is None else [item, partner]

    def delete(self, index: int) -> list[Path]:
        """Delete the files of entry `index` (both images of a comparison) from the gallery
        folder, and drop them from the list; the paths removed. Files outside the folder are
        refused and errors are said on `error`, in one sentence."""
        removed: list[Path] = []
        for item in self.entry_items(index):
            try:
                self.store.delete(item.path)
            except ValueError as exc:
                self.error.emit(f"Not deleted: {exc}")
                continue
            except FileNotFoundError:
                pass
            except OSError as exc:
                self.error.emit(f"Could not delete {item.path.name}: {_reason(exc)}.")
                continue
            removed.append(item.path)
        if removed:
            gone = set(removed)
            self._items = [item for item in self._items if item.path not in gone]
            self.changed.emit()
        return removed

    # --- restoring ----------------------------------------------------------------------------

    def restore(self, index: int, told: tuple[str, ...] = ()) -> ParsedParameters | None:
        """Apply the parameters of the item at `index` to the session, and return them; its
        warnings already `told` (by its partner's restore) are not told again."""
        if not 0 <= index < len(self._items):
            self.error.emit(f"There is no gallery image number {index + 1}.")
            return None
        item = self._items[index]
        if item.parsed is None:
            self.error.emit(f"{item.path.name} has no generation parameters that can be read.")
            return None
        self._apply(item.parsed, told)
        return item.parsed

    def import_png(self, path: str | os.PathLike[str]) -> ParsedParameters | None:
        """Apply the parameters of a dropped PNG (ours, A1111's, ComfyUI's or InvokeAI's), and
        return them; what another tool's PNG says that Studio cannot map is told as a notice."""
        source = Path(path)
        problem = self._png_problem(source)
        if problem:
            self.error.emit(problem)
            return None
        try:
            parsed = read_png_parameters(source)
        except MetadataError as exc:
            self.error.emit(str(exc))
            return None
        if parsed is None:
            self.error.emit(
                f"{source.name} has no generation parameters: it was not made by {TOOLS}."
            )
            return None
        self._apply(parsed)
        return parsed

    @staticmethod
    def _png_problem(source: Path) -> str:
        try:
            with source.open("rb") as file:
                head = file.read(len(PNG_SIGNATURE))
        except OSError as exc:
            return f"{source.name} could not be opened: {_reason(exc)}."
        if head != PNG_SIGNATURE:
            return f"{source.name} is not a PNG image: drop a PNG made by Studio or A1111."
        return ""

    def _apply(self, parsed: ParsedParameters, told: tuple[str, ...] = ()) -> None:
        fresh = [warning for warning in parsed.warnings if warning not in told]
        if parsed.unmapped:
            fresh.append(f"Not taken from {parsed.source}: {' '.join(parsed.unmapped)}")
        if fresh:
            self.notice.emit(" ".join(fresh))
        if self.target is not None:
            self.target.apply_parameters(parsed)
