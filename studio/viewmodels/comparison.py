"""How the student did against the teacher in the last comparison."""

from __future__ import annotations

import math

from PySide6.QtCore import QObject, Signal

from studio.core.events import CompareFinished


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
    """Holds the speed-up and similarity of the last comparison and their one-line summary."""

    changed = Signal()
    summaryChanged = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.speedup = math.nan
        self.psnr = math.nan
        self.ssim = math.nan
        self.job_id = ""

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

    def clear(self) -> None:
        if not self.job_id and math.isnan(self.speedup):
            return
        self.job_id = ""
        self.speedup = self.psnr = self.ssim = math.nan
        self._emit()

    def _emit(self) -> None:
        self.changed.emit()
        self.summaryChanged.emit(self.summary)
