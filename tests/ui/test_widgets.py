"""Widget tests, offscreen: images, zoom and sync, comparison modes, step strip, progress."""

from __future__ import annotations

import sys
from typing import TypeVar

import numpy as np
import pytest
from PySide6.QtCore import QObject, QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QImage, QWheelEvent
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from studio.ui.comparison import ComparisonWidget, SwipeView, mode_key
from studio.ui.image_view import ImageView, ViewState, ViewSync
from studio.ui.images import (
    MAGMA,
    difference_heatmap,
    resize_nearest,
    swipe_composite,
    to_qimage,
)
from studio.ui.progress import LaneProgress, format_eta, progress_text
from studio.ui.step_strip import StepStrip

W = TypeVar("W", bound=QWidget)


def random_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def qimage_pixels(image: QImage) -> np.ndarray:
    """The RGB888 QImage's pixels as HxWx3, honouring its padded bytes per line."""
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : 3 * image.width()].reshape(image.height(), image.width(), 3).copy()


def shown(qtbot, widget: W, width: int = 320, height: int = 280) -> W:
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    QApplication.processEvents()
    return widget


# --- images ------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [1, 3, 5, 7, 30, 33])
def test_to_qimage_has_no_row_skew_for_any_width(width: int) -> None:
    array = random_image(9, width, seed=width)
    image = to_qimage(array)
    assert (image.width(), image.height()) == (width, 9)
    np.testing.assert_array_equal(qimage_pixels(image), array)
    last = image.pixelColor(width - 1, 8)
    assert (last.red(), last.green(), last.blue()) == tuple(array[8, width - 1])


def test_to_qimage_owns_its_pixels() -> None:
    array = random_image(6, 5)
    image = to_qimage(array)
    before = qimage_pixels(image)
    array[:] = 0
    del array
    np.testing.assert_array_equal(qimage_pixels(image), before)
    assert before.any()


def test_to_qimage_takes_strided_and_grey_arrays() -> None:
    array = random_image(8, 10)
    np.testing.assert_array_equal(qimage_pixels(to_qimage(array[:, ::2])), array[:, ::2])
    grey = to_qimage(np.full((4, 3), 77, np.uint8))
    assert grey.format() == QImage.Format.Format_Grayscale8
    assert grey.pixelColor(2, 3).red() == 77
    with pytest.raises(ValueError):
        to_qimage(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError):
        to_qimage(np.zeros((4, 4, 4), np.uint8))


def test_heatmap_of_identical_images_is_uniform_and_dark() -> None:
    image = random_image(16, 12)
    heat = difference_heatmap(image, image.copy())
    assert heat.shape == (16, 12, 3) and heat.dtype == np.uint8
    assert (heat == MAGMA[0]).all()
    assert MAGMA[0].sum() < 30


def test_heatmap_gets_brighter_with_larger_differences() -> None:
    a = np.zeros((1, 3, 3), np.uint8)
    b = np.array([[[10] * 3, [100] * 3, [255] * 3]], np.uint8)
    heat = difference_heatmap(a, b, vmax=255).astype(int).sum(axis=2)[0]
    assert heat[0] < heat[1] < heat[2]
    luminance = MAGMA.astype(int) @ np.array([2, 7, 1])
    assert (np.diff(luminance) >= 0).all()


def test_swipe_composite_takes_left_columns_from_the_first_image() -> None:
    a = np.zeros((4, 8, 3), np.uint8)
    b = np.full((4, 8, 3), 255, np.uint8)
    out = swipe_composite(a, b, 0.25)
    assert (out[:, :2] == 0).all() and (out[:, 2:] == 255).all()
    assert (swipe_composite(a, b, 0.0) == 255).all()
    assert (swipe_composite(a, b, 1.5) == 0).all()
    assert (b == 255).all()


def test_swipe_composite_matches_sizes_by_nearest_neighbour() -> None:
    small = np.zeros((2, 2, 3), np.uint8)
    small[0, 1] = 9
    big = np.full((4, 4, 3), 255, np.uint8)
    out = swipe_composite(small, big, 1.0)
    np.testing.assert_array_equal(out, resize_nearest(small, 4, 4))
    assert out[0, 2, 0] == 9 and out[0, 1, 0] == 0


# --- image view --------------------------------------------------------------------------------


def test_image_view_zoom_keys(qtbot) -> None:
    view = shown(qtbot, ImageView())
    view.set_image(random_image(32, 32))
    assert view.is_fit()
    fit_zoom = view.zoom()
    assert fit_zoom == int(fit_zoom) >= 2
    qtbot.keyClick(view, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert view.zoom() == pytest.approx(1.0) and not view.is_fit()
    qtbot.keyClick(view, Qt.Key.Key_Plus, Qt.KeyboardModifier.ControlModifier)
    assert view.zoom() == pytest.approx(1.25)
    qtbot.keyClick(view, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert view.zoom() == pytest.approx(1.0)
    qtbot.keyClick(view, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert view.is_fit() and view.zoom() == pytest.approx(fit_zoom)


def test_image_view_wheel_zooms_about_the_cursor(qtbot) -> None:
    view = shown(qtbot, ImageView())
    view.set_image(random_image(64, 64))
    view.set_zoom(8.0)
    cursor = QPointF(100, 90)
    under = view.viewportTransform().inverted()[0].map(cursor)
    wheel = QWheelEvent(
        cursor,
        view.viewport().mapToGlobal(cursor),
        QPoint(),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view.viewport(), wheel)
    assert view.zoom() == pytest.approx(10.0)
    after = view.viewportTransform().map(under)
    assert abs(after.x() - cursor.x()) <= 1 and abs(after.y() - cursor.y()) <= 1


def test_image_view_placeholder_smooth_and_caption(qtbot) -> None:
    view = shown(qtbot, ImageView(placeholder="Nothing here"))
    assert not view.has_image() and view.placeholder() == "Nothing here"
    view.set_image(random_image(8, 8))
    assert view.image_size() == (8, 8)
    assert view._item.transformationMode() == Qt.TransformationMode.FastTransformation
    view.setSmooth(True)
    assert view._item.transformationMode() == Qt.TransformationMode.SmoothTransformation
    view.set_caption("Teacher · 25 steps")
    assert view.caption_texts()[0] == "Teacher · 25 steps"
    view.set_image(None)
    assert not view.has_image()


def test_view_sync_follows_zoom_and_pan_without_feedback(qtbot) -> None:
    first, second = shown(qtbot, ImageView()), shown(qtbot, ImageView())
    for view in (first, second):
        view.set_image(random_image(64, 64))
    sync = ViewSync([first, second])
    emitted: list[ViewState] = []
    second.viewStateChanged.connect(emitted.append)
    first.set_zoom(6.0)
    assert second.zoom() == pytest.approx(6.0) and not second.is_fit()
    first.horizontalScrollBar().setValue(first.horizontalScrollBar().value() + 30)
    assert second.view_state().center_x == pytest.approx(first.view_state().center_x, abs=0.01)
    qtbot.keyClick(second, Qt.Key.Key_Plus, Qt.KeyboardModifier.ControlModifier)
    assert first.zoom() == pytest.approx(7.5)
    qtbot.keyClick(second, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert first.is_fit() and second.is_fit()
    assert len(emitted) <= 3
    sync.remove(second)
    first.set_zoom(2.0)
    assert second.zoom() != pytest.approx(2.0)


def test_view_without_image_keeps_the_synced_state_for_its_first_image(qtbot) -> None:
    first, second = shown(qtbot, ImageView()), shown(qtbot, ImageView())
    first.set_image(random_image(32, 32))
    ViewSync([first, second])
    first.set_zoom(3.0)
    second.set_image(random_image(32, 32))
    assert second.zoom() == pytest.approx(3.0)


# --- comparison --------------------------------------------------------------------------------


def test_comparison_has_named_panes_and_switches_modes(qtbot) -> None:
    widget = shown(qtbot, ComparisonWidget(), 700, 400)
    assert widget.findChild(ImageView, "teacherPane") is widget.teacher_view
    assert widget.findChild(ImageView, "studentPane") is widget.student_view
    assert widget.findChild(QLabel, "comparisonSummary") is not None
    changes: list[str] = []
    widget.modeChanged.connect(changes.append)
    widget.set_mode("Swipe")
    widget.set_mode("difference")
    widget.set_mode("side-by-side")
    assert changes == ["swipe", "difference", "side_by_side"]
    assert widget.mode_buttons["side_by_side"].isChecked()
    with pytest.raises(ValueError):
        mode_key("mosaic")


def test_comparison_number_keys_switch_modes(qtbot) -> None:
    widget = shown(qtbot, ComparisonWidget(), 700, 400)
    qtbot.keyClick(widget, Qt.Key.Key_2)
    assert widget.mode() == "swipe"
    qtbot.keyClick(widget.swipe_view, Qt.Key.Key_3)
    assert widget.mode() == "difference"
    qtbot.keyClick(widget, Qt.Key.Key_1)
    assert widget.mode() == "side_by_side"


def test_comparison_shows_images_captions_summary_and_difference(qtbot) -> None:
    widget = shown(qtbot, ComparisonWidget(), 700, 400)
    teacher, student = random_image(32, 32, 1), random_image(32, 32, 2)
    widget.set_images(teacher, student)
    widget.set_captions("Teacher · 25 steps", "Student · 2 steps")
    widget.set_summary("Student 12.3x faster · PSNR 24.1 dB · SSIM 0.871")
    assert widget.teacher_view.has_image() and widget.student_view.has_image()
    assert widget.student_view.caption() == "Student · 2 steps"
    assert widget.summary().startswith("Student 12.3x faster")
    widget.set_mode("difference")
    assert widget.difference_view.image_size() == (32, 32)
    assert widget.legend.vmax() >= 16 and widget.legend.isVisible()
    widget.set_smooth(True)
    assert widget.is_smooth() and all(view.isSmooth() for view in widget.views())


def test_comparison_with_one_lane(qtbot) -> None:
    widget = shown(qtbot, ComparisonWidget(), 700, 400)
    widget.set_images(random_image(32, 32), None)
    assert widget.teacher_view.has_image() and not widget.student_view.has_image()
    widget.set_mode("swipe")
    assert widget.swipe_view.has_image() and widget.swipe_view.divider_x() is None
    widget.set_mode("difference")
    assert not widget.difference_view.has_image() and not widget.legend.isVisible()
    widget.set_single_lane(True)
    assert widget.mode() == "side_by_side" and not widget.student_view.isVisible()
    qtbot.keyClick(widget, Qt.Key.Key_2)
    assert widget.mode() == "side_by_side"


def test_swipe_divider_follows_a_drag_of_its_handle(qtbot) -> None:
    view = shown(qtbot, SwipeView(), 400, 300)
    view.set_pair(np.zeros((32, 32, 3), np.uint8), np.full((32, 32, 3), 255, np.uint8))
    fractions: list[float] = []
    view.fractionChanged.connect(fractions.append)
    divider = view.divider_x()
    assert divider is not None
    x = round(divider)
    y = view.viewport().height() // 2
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    qtbot.mouseMove(view.viewport(), QPoint(x + 50, y))
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x + 50, y))
    assert fractions and view.fraction() > 0.5
    assert view.divider_x() == pytest.approx(x + 50, abs=view.zoom())


# --- step strip --------------------------------------------------------------------------------


def frames(count: int) -> list[tuple[int, np.ndarray]]:
    image = random_image(32, 32)
    return [(step + 1, image) for step in range(count)]


def test_step_strip_selects_frames_by_slider_thumbnails_and_keys(qtbot) -> None:
    strip = shown(qtbot, StepStrip(), 600, 160)
    strip.set_frames(frames(5))
    assert strip.current_step() == 5
    with qtbot.waitSignal(strip.frameSelected) as blocker:
        strip.slider.setValue(1)
    assert blocker.args == [2] and strip.thumbnails.currentIndex().row() == 1
    strip.thumbnails.setCurrentIndex(strip.model.index(3, 0))
    assert strip.slider.value() == 3 and strip.current_step() == 4
    selected: list[int] = []
    strip.frameSelected.connect(selected.append)
    qtbot.keyClick(strip, Qt.Key.Key_Left)
    qtbot.keyClick(strip, Qt.Key.Key_Left)
    qtbot.keyClick(strip, Qt.Key.Key_Right)
    assert selected == [3, 2, 3]
    strip.select_step(5)
    assert strip.current_index() == 4 and "5 of 5" in strip.label.text()


def test_step_strip_takes_a_thousand_frames_and_draws_few_thumbnails(qtbot) -> None:
    strip = shown(qtbot, StepStrip(), 600, 160)
    strip.set_frames(frames(1000))
    QApplication.processEvents()
    assert strip.frame_count() == 1000 and strip.current_step() == 1000
    strip.select_index(500)
    QApplication.processEvents()
    assert strip.current_step() == 501
    assert 0 < strip.model.thumbnails_made() < 100
    strip.set_frames([])
    assert strip.current_step() is None and strip.label.text() == "no steps"


def test_step_strip_adds_frames_by_insertion_following_the_newest(qtbot) -> None:
    strip = shown(qtbot, StepStrip(), 600, 160)
    resets: list[int] = []
    strip.model.modelReset.connect(lambda: resets.append(1))
    selected: list[int] = []
    strip.frameSelected.connect(selected.append)
    for step, image in frames(4):
        strip.add_frame(step, image)
    assert strip.current_step() == 4 and strip.slider.maximum() == 3 and strip.following()
    strip.select_step(2)
    strip.add_frame(7, frames(1)[0][1])
    strip.add_frame(6, frames(1)[0][1])
    assert [step for step, _ in strip.model.frames()] == [1, 2, 3, 4, 6, 7]
    assert strip.current_step() == 2 and "2 of 6" in strip.label.text()
    strip.add_frame(2, frames(1)[0][1])
    assert strip.frame_count() == 6
    qtbot.keyClick(strip, Qt.Key.Key_End)
    strip.add_frame(8, frames(1)[0][1])
    assert strip.current_step() == 8 and strip.thumbnails.currentIndex().row() == 6
    assert selected == [2, 7] and resets == []


# --- progress ----------------------------------------------------------------------------------


def test_lane_progress_text_and_states(qtbot) -> None:
    lane = shown(qtbot, LaneProgress("Teacher"), 400, 30)
    assert lane.state() == "idle"
    lane.set_progress(12, 25, 0.8)
    assert lane.text() == "step 12/25 · ETA 0.8 s" and lane.state() == "running"
    assert lane.bar.value() == 12 and lane.bar.maximum() == 25
    lane.set_state("cancelled")
    assert lane.text() == "cancelled at step 12/25"
    lane.set_state("done")
    assert lane.text() == "done · 25 steps" and lane.bar.value() == 25
    lane.set_state("failed")
    assert lane.bar.property("state") == "failed"
    with pytest.raises(ValueError):
        lane.set_state("paused")  # type: ignore[arg-type]


def test_progress_text_formats() -> None:
    assert progress_text(3, 0) == "step 3"
    assert progress_text(25, 25, 0.0) == "step 25/25"
    assert progress_text(1, 4, float("nan")) == "step 1/4"
    assert [format_eta(s) for s in (0.84, 12.4, 125)] == ["0.8 s", "12 s", "2 min 05 s"]


# --- PySide6 regression guard ------------------------------------------------------------------


class _Emitter(QObject):
    fired = Signal(bool)


def test_signal_emits_keep_the_refcount_of_true_stable(qapp) -> None:
    emitter = _Emitter()
    received: list[bool] = []
    emitter.fired.connect(received.append)
    before = sys.getrefcount(True)
    for _ in range(2000):
        emitter.fired.emit(True)
    received.clear()
    assert abs(sys.getrefcount(True) - before) < 50
