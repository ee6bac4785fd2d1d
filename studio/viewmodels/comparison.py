"""How the student did against the teacher in the last comparison, and its kept previews."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from studio.core.animation import Timing, write_animation
from studio.core.events import CompareFinished, LaneFinished
from studio.core.jobs import Lane
from studio.core.reels import PreviewKeeper, Reel, lane_reel

ROLES = {Lane.teacher: "Teacher", Lane.student: "Student"}


def format_summary(speedup: float, psnr: float, ssim: float) -> str:
    """E.g. "Student 12.3x faster · PSNR 24.1 dB · SSIM 0.871"; unknown parts are left out."""
    parts: list[str] = []
    if math.isinf(speedup) and speedup > 0:
        parts.append("Student took no measurable time")
    elif math.isfinite(speedup) and speedup >= 1:
        parts.append(f"Student {speedup:.1f}x faster")
    elif math.isfinite(speedup) and speedup > 0:
        parts.append(f"Student {1 / speedup:.1f}x slower")
    if math.isinf(psnr):
        parts.append("identical")
    elif math.isfinite(psnr):
        parts.append(f"PSNR {psnr:.1f} dB")
    if math.isfinite(ssim):
        parts.append(f"SSIM {ssim:.3f}")
    return " · ".join(parts)


class ComparisonViewModel(QObject):
    """Holds the speed-up and similarity of the last comparison and their one-line summary,
    and each lane's reel (bounded copies of its previews, on its own clock) for exporting the
    comparison as an animation."""

    changed = Signal()
    summaryChanged = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.speedup = math.nan
        self.psnr = math.nan
        self.ssim = math.nan
        self.job_id = ""
        self.reels: dict[Lane, Reel] = {}

    @property
    def summary(self) -> str:
        return format_summary(self.speedup, self.psnr, self.ssim)

    @property
    def available(self) -> bool:
        return bool(self.job_id)

    def update(self, event: CompareFinished) -> None:
        self.job_id = event.job_id
        self.speedup, self.psnr, self.ssim = event.speedup, event.psnr, event.ssim
        self._emit()

    def keep_lane(self, event: LaneFinished, frames: Mapping[int, np.ndarray]) -> None:
        """Keep a comparison lane's reel from its previews (step -> image) and its result."""
        role = ROLES.get(event.lane)
        if role is not None:
            kept = PreviewKeeper().extend(frames).frames
            self.reels[event.lane] = lane_reel(role, event, kept)

    @property
    def can_animate(self) -> bool:
        """Whether the last comparison finished with kept previews in both lanes."""
        reels = [self.reels.get(lane) for lane in ROLES]
        return self.available and all(
            reel is not None and any(not shot.final for shot in reel.shots) for reel in reels
        )

    def export_animation(self, path: Path, timing: Timing | None = None) -> Path:
        """Write the last comparison, teacher left and student right, as an animated WebP or
        GIF or an MP4 (by the suffix); ValueError or OSError say why not."""
        if not self.can_animate:
            raise ValueError("run a comparison with previews on first")
        return write_animation(path, [self.reels[lane] for lane in ROLES], timing or Timing())

    def clear(self) -> None:
        self.reels = {}
        if not self.job_id and math.isnan(self.speedup):
            return
        self.job_id = ""
        self.speedup = self.psnr = self.ssim = math.nan
        self._emit()

    def _emit(self) -> None:
        self.changed.emit()
        self.summaryChanged.emit(self.summary)
