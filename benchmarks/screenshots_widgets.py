"""Screenshots of the studio's widgets with synthetic images, to look at them offscreen.

Renders the ComparisonWidget in each mode (32x32 emoji-like faces and 512 px gradients), the
single-lane layout, the step strip and the lane progress bars, and saves PNGs.
Run: `python -m benchmarks.screenshots_widgets [--out /tmp/studio-widgets]`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

from studio.ui.comparison import MODES, ComparisonWidget
from studio.ui.progress import LaneProgress, LaneState
from studio.ui.step_strip import StepStrip

TEACHER_CAPTION = "Teacher · 25 steps · denoise 1.21 s · total 1.30 s"
STUDENT_CAPTION = "Student · 2 steps · denoise 0.09 s · total 0.11 s"
SUMMARY = "Student 12.3x faster · PSNR 24.1 dB · SSIM 0.871"


def emoji_face(
    size: int = 32, mouth_shift: int = 0, tint: float = 0.0, seed: int = 0
) -> np.ndarray:
    """A yellow smiley on white, drawn with numpy masks; `mouth_shift` and `tint` vary it."""
    y, x = np.mgrid[0:size, 0:size] + 0.5
    c = size / 2
    image = np.full((size, size, 3), 255.0)
    face = (x - c) ** 2 + (y - c) ** 2 < (0.42 * size) ** 2
    image[face] = (255, 204 - 40 * tint, 40 + 60 * tint)
    for eye_x in (c - 0.17 * size, c + 0.17 * size):
        eye = (x - eye_x) ** 2 / 1.0 + (y - 0.4 * size) ** 2 / 2.2 < (0.07 * size) ** 2
        image[eye] = (70, 40, 20)
    ring = np.abs(np.hypot(x - c, y - 0.5 * size - mouth_shift) - 0.24 * size) < 0.05 * size
    image[ring & (y > 0.6 * size + mouth_shift)] = (120, 40, 30)
    noise = np.random.default_rng(seed).normal(0, 6, image.shape)
    return np.clip(image + noise * face[..., None], 0, 255).astype(np.uint8)


def gradient(size: int = 512, phase: float = 0.0) -> np.ndarray:
    """A smooth colour field with rings, for large-image screenshots."""
    y, x = np.mgrid[0:size, 0:size] / size
    r = 0.5 + 0.5 * np.sin(6 * x + phase)
    g = 0.5 + 0.5 * np.sin(5 * y + 2 * phase)
    b = 0.5 + 0.5 * np.cos(30 * np.hypot(x - 0.5, y - 0.5) + phase)
    return (np.stack([r, g, b], axis=2) * 255).astype(np.uint8)


def grab(widget: QWidget, path: Path) -> None:
    widget.show()
    for _ in range(3):
        QApplication.processEvents()
    widget.grab().save(str(path))
    print(path)


def comparison_shots(out: Path, teacher: np.ndarray, student: np.ndarray, tag: str) -> None:
    widget = ComparisonWidget()
    widget.resize(900, 520)
    widget.set_captions(TEACHER_CAPTION, STUDENT_CAPTION)
    widget.set_summary(SUMMARY)
    widget.set_images(teacher, student)
    for mode in MODES:
        widget.set_mode(mode)
        grab(widget, out / f"comparison_{tag}_{mode}.png")
    widget.set_mode("side_by_side")
    widget.teacher_view.set_zoom(widget.teacher_view.zoom() * 2)
    grab(widget, out / f"comparison_{tag}_zoomed.png")
    widget.set_mode("swipe")
    grab(widget, out / f"comparison_{tag}_zoomed_swipe.png")
    widget.set_mode("side_by_side")
    widget.set_smooth(True)
    grab(widget, out / f"comparison_{tag}_smooth.png")
    widget.close()


def single_lane_shots(out: Path, image: np.ndarray) -> None:
    widget = ComparisonWidget()
    widget.resize(600, 480)
    widget.set_single_lane(True)
    widget.set_captions("Student · 2 steps · denoise 0.09 s · total 0.11 s", "")
    widget.set_images(image, None)
    grab(widget, out / "single_lane.png")
    pending = ComparisonWidget()
    pending.resize(900, 520)
    pending.set_images(None, image)
    grab(pending, out / "comparison_pending_teacher.png")
    pending.set_mode("difference")
    grab(pending, out / "comparison_pending_difference.png")


def strip_and_progress_shots(out: Path) -> None:
    panel = QWidget()
    panel.resize(900, 240)
    column = QVBoxLayout(panel)
    strip = StepStrip()
    frames = [(step, emoji_face(tint=step / 25, seed=step)) for step in range(1, 26)]
    strip.set_frames(frames)
    strip.select_index(11)
    column.addWidget(strip)
    lanes: list[tuple[str, LaneState, tuple[int, int, float | None]]] = [
        ("Teacher", "running", (12, 25, 0.8)),
        ("Student", "done", (2, 2, None)),
        ("Teacher", "cancelled", (7, 25, None)),
        ("Student", "failed", (1, 2, None)),
    ]
    for title, state, args in lanes:
        lane = LaneProgress(title)
        lane.set_progress(*args)
        lane.set_state(state)
        column.addWidget(lane)
    grab(panel, out / "step_strip_and_progress.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("/tmp/studio-widgets"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    comparison_shots(args.out, emoji_face(), emoji_face(mouth_shift=1, tint=0.3, seed=1), "emoji")
    comparison_shots(args.out, gradient(), gradient(phase=0.3), "large")
    single_lane_shots(args.out, emoji_face(tint=0.3, seed=1))
    strip_and_progress_shots(args.out)
    app.processEvents()


if __name__ == "__main__":
    main()
