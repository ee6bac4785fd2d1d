"""History entries in the Compare panes: the clicked image and its partner from the same
comparison, recomputed summary, lone images, live generations that keep the panes, keys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from studio.core import gallery as gallery_module
from studio.core.events import JobStarted, PreviewReady, StepProgress
from studio.core.metrics import psnr
from studio.core.pngio import read_image, read_parameters, write_png
from studio.ui.history_panes import STRIP_NOTE
from studio.ui.image_view import ImageView
from studio.ui.main_window import MainWindow
from tests.ui.test_main_window import finish, make_window, pump_until
from tests.viewmodels.fake_engine import FakeEngine


@pytest.fixture
def window(tmp_path: Path, engine: FakeEngine, qtbot) -> MainWindow:
    return make_window(tmp_path, engine, qtbot)


def shown_pixels(view: ImageView) -> np.ndarray:
    """The picture a pane holds, as HxWx3 uint8 (what the user sees, before zoom)."""
    (item,) = view.scene().items()
    image = item.pixmap().toImage().convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), -1)
    return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def two_comparisons(window: MainWindow, engine: FakeEngine) -> None:
    """A 32x32 comparison (student 4 steps), then a 48x48 one (student 8 steps)."""
    window.session.prompt = "first"
    assert window.generate()
    finish(window, engine)
    window.session.prompt, window.session.width, window.session.height = "second", 48, 48
    window.session.student.num_inference_steps = 8
    assert window.generate()
    finish(window, engine)


def click(window: MainWindow, qtbot, row: int) -> None:
    strip = window.gallery_strip
    rect = strip.visualItemRect(strip.item(row))
    qtbot.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def saved(window: MainWindow, row: int) -> Path:
    return Path(window.gallery_strip.path_at(row))


def test_clicking_an_older_teacher_shows_its_pair_and_their_summary(window, engine, qtbot):
    two_comparisons(window, engine)
    assert window.gallery_strip.count() == 4
    assert "2.9x faster" in window.comparison.summary()
    first_teacher, first_student = saved(window, 3), saved(window, 2)
    click(window, qtbot, 3)
    comparison = window.comparison
    assert np.array_equal(shown_pixels(comparison.teacher_view), read_image(first_teacher))
    assert np.array_equal(shown_pixels(comparison.student_view), read_image(first_student))
    assert comparison.teacher_view.image_size() == (32, 32)
    assert comparison.teacher_view.caption().startswith(
        f"Teacher · from history · {first_teacher.name} · "
    )
    assert f"Student · from history · {first_student.name}" in comparison.student_view.caption()
    expected = psnr(read_image(first_teacher), read_image(first_student))
    assert comparison.summary().startswith("From history · Student 5.2x faster")
    assert f"PSNR {expected:.1f} dB" in comparison.summary() and "SSIM" in comparison.summary()
    assert child_text(window) == (
        f"Restored the parameters of {first_teacher.name} and of its partner; the panes show it"
        f" with its student partner {first_student.name}."
    )
    assert window.session.prompt == "first" and window.session.width == 32


def test_a_click_restores_both_lanes_so_generate_reproduces_the_panes(window, engine, qtbot):
    two_comparisons(window, engine)
    window.session.student.num_inference_steps = 2
    window.session.teacher.num_inference_steps = 40
    window.session.compare_mode = False
    click(window, qtbot, 3)  # the first comparison's teacher: its student ran 4 steps
    session = window.session
    assert session.compare_mode
    assert session.student.num_inference_steps == 4
    assert session.teacher.num_inference_steps == 25
    sent = window.generate()
    job = engine.jobs[-1]
    assert sent == [job.job_id]
    assert job.student.params.num_inference_steps == 4
    assert job.teacher.params.num_inference_steps == 25
    assert (job.teacher.params.prompt, job.teacher.params.width) == ("first", 32)


def child_text(window: MainWindow) -> str:
    return window.status_line.text()


def test_the_difference_and_swipe_views_use_the_history_pair(window, engine, qtbot) -> None:
    two_comparisons(window, engine)
    click(window, qtbot, 2)
    window.comparison.set_mode("difference")
    assert window.comparison.difference_view.has_image()
    assert window.comparison.difference_view.image_size() == (32, 32)
    assert "mean 10.0" in window.comparison.difference_view.caption()
    window.comparison.set_mode("swipe")
    assert window.comparison.swipe_view.divider_x() is not None


def test_the_step_strips_are_cleared_with_a_note(window, engine, qtbot) -> None:
    two_comparisons(window, engine)
    strip = window.preview.strips["teacher"]
    assert strip.frame_count() == 25
    click(window, qtbot, 3)
    for strip in window.preview.strips.values():
        assert strip.frame_count() == 0 and strip.note() == STRIP_NOTE
    assert window.preview.progress["teacher"].state() == "idle"
    window.preview.set_preview_kind("xt")
    assert window.preview.strips["teacher"].frame_count() == 0
    window.preview.clear_pair()
    assert window.preview.strips["teacher"].frame_count() == 25
    assert window.preview.progress["teacher"].state() == "done"


def test_a_lone_image_shows_in_its_lane_and_the_other_pane_says_so(window, engine, qtbot):
    window.generate()

    def stop_at_step_3(event) -> None:
        window.session.handle(event)
        if isinstance(event, StepProgress) and event.step == 3:
            window.session.stop()

    engine.pump(stop_at_step_3)
    assert window.gallery_strip.count() == 1
    click(window, qtbot, 0)
    comparison = window.comparison
    assert np.array_equal(shown_pixels(comparison.teacher_view), read_image(saved(window, 0)))
    assert not comparison.student_view.has_image() and comparison.student_view.isVisible()
    assert comparison.student_view.placeholder() == "No student image for this history entry"
    assert comparison.student_view.caption().endswith("no student image for this entry")
    assert (
        " · partial, stopped after 3 steps · total 0.04 s · " in comparison.teacher_view.caption()
    )
    assert comparison.summary() == ""


def test_a_single_lane_image_fills_the_one_pane(window, engine, qtbot) -> None:
    window.session.compare_mode = False
    assert window.generate()
    finish(window, engine)
    window.session.width = 48
    assert window.generate()
    finish(window, engine)
    click(window, qtbot, 1)
    comparison = window.comparison
    assert comparison.is_single_lane() and comparison.teacher_view.image_size() == (32, 32)
    assert "from history" in comparison.teacher_view.caption()


def test_a_running_generation_keeps_its_panes(window, engine, qtbot) -> None:
    two_comparisons(window, engine)
    window.session.prompt = "third"
    assert window.generate()
    rest = pump_until(window, engine, PreviewReady)
    click(window, qtbot, 3)
    assert window.session.prompt == "first"
    assert window.preview.pair is None
    assert "step 1/25" in window.comparison.teacher_view.caption()
    assert window.preview.strips["teacher"].note() != STRIP_NOTE
    assert child_text(window) == (
        f"Restored the parameters of {saved(window, 3).name} and of its partner;"
        " the panes keep showing the generation in progress."
    )
    for event in rest:
        window.session.handle(event)
    assert "from history" not in window.comparison.teacher_view.caption()


def test_a_queued_generation_also_keeps_the_panes(window, engine, qtbot) -> None:
    two_comparisons(window, engine)
    assert window.generate()
    click(window, qtbot, 3)
    assert window.preview.pair is None and "in progress" in child_text(window)


def test_the_next_generation_replaces_the_history_view(window, engine, qtbot) -> None:
    two_comparisons(window, engine)
    click(window, qtbot, 3)
    assert window.preview.pair is not None
    assert window.generate()
    rest = pump_until(window, engine, JobStarted)
    QApplication.processEvents()
    comparison = window.comparison
    assert window.preview.pair is None
    assert "from history" not in comparison.teacher_view.caption()
    assert comparison.teacher_view.placeholder().endswith("no image yet")
    assert not comparison.summary().startswith("From history")
    for event in rest:
        window.session.handle(event)
    assert window.preview.strips["teacher"].frame_count() == 25
    assert comparison.summary().startswith("Student 5.2x faster")  # the restored first pair


def test_arrow_keys_move_through_history_and_enter_restores(window, engine, qtbot) -> None:
    two_comparisons(window, engine)
    strip = window.gallery_strip
    click(window, qtbot, 0)
    assert window.session.prompt == "second"
    window.session.prompt = "typed meanwhile"
    qtbot.keyClick(strip, Qt.Key.Key_Right)
    assert strip.currentRow() == 1
    assert saved(window, 1).name in window.comparison.teacher_view.caption()
    assert window.session.prompt == "typed meanwhile"
    assert "Enter restores its parameters" in child_text(window)
    qtbot.keyClick(strip, Qt.Key.Key_Right)
    assert window.comparison.teacher_view.image_size() == (32, 32)
    assert saved(window, 2).name in window.comparison.student_view.caption()
    qtbot.keyClick(strip, Qt.Key.Key_Left)
    assert strip.currentRow() == 1 and window.comparison.teacher_view.image_size() == (48, 48)
    qtbot.keyClick(strip, Qt.Key.Key_Return)
    assert window.session.prompt == "second"
    assert child_text(window).startswith(f"Restored the parameters of {saved(window, 1).name}")


def test_showing_history_keeps_images_waiting_to_be_saved(
    window, engine, qtbot, monkeypatch
) -> None:
    two_comparisons(window, engine)

    def refuse(*args, **kwargs):
        raise OSError(28, "No space left on device")

    real_write = gallery_module.write_png
    monkeypatch.setattr(gallery_module, "write_png", refuse)
    assert window.generate()
    finish(window, engine)
    assert len(window.session.gallery.unsaved) == 2
    click(window, qtbot, 3)
    assert window.preview.pair is not None
    assert len(window.session.gallery.unsaved) == 2 and window.save_again_button.isVisible()
    monkeypatch.setattr(gallery_module, "write_png", real_write)
    assert window.save_again_button.save_again() == 2
    assert window.gallery_strip.count() == 6


def test_a_pair_without_recorded_times_leaves_the_speed_up_blank(window, qtbot) -> None:
    store = window.session.gallery.store
    params = window.session.teacher.params(window.session.shared_params())
    teacher = np.full((32, 32, 3), 120, np.uint8)
    store.save(teacher, params, extra={"Lane": "teacher", "Job": "old"})
    store.save(teacher // 2, params, extra={"Lane": "student", "Job": "old"})
    window.session.gallery.load()
    click(window, qtbot, 1)
    comparison = window.comparison
    assert np.array_equal(shown_pixels(comparison.student_view), teacher // 2)
    assert comparison.summary().startswith("From history · speed-up not recorded · PSNR ")
    assert "total" not in comparison.teacher_view.caption()


def test_a_pair_whose_images_share_a_warning_tells_it_once(window, engine, qtbot) -> None:
    two_comparisons(window, engine)
    teacher = saved(window, 3)
    for path in (teacher, saved(window, 2)):  # the first pair: a value no reader knows
        text = read_parameters(path)
        assert text is not None
        write_png(path, read_image(path), text + ", ???")
    window.session.gallery.load()
    told: list[str] = []
    window.session.gallery.notice.connect(told.append)
    rows = [saved(window, row) for row in range(window.gallery_strip.count())]
    click(window, qtbot, rows.index(teacher))
    assert len(told) == 1 and "???" in told[0]
    assert window.session.compare_mode and window.session.student.num_inference_steps == 4
