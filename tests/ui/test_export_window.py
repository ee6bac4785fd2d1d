"""Export actions in the real window: Copy image, Save image as…, Export grid…, the history
strip's menu (reveal, copy, delete), the strip following new results, File › Open image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QUrl
from PySide6.QtGui import QContextMenuEvent, QDesktopServices
from PySide6.QtWidgets import QApplication, QFileDialog, QMenu, QMessageBox, QWidget

from studio.core import video
from studio.core.gallery import GalleryStore
from studio.core.grid_sheet import grid_title, layout
from studio.core.pngio import read_image, read_parameters
from studio.ui.main_window import MainWindow
from studio.ui.window_exports import ask_animation_path
from tests.ui.test_main_window import finish, make_window
from tests.ui.test_studies_window import run_grid, set_axes
from tests.viewmodels.fake_engine import FakeEngine


@pytest.fixture
def window(tmp_path: Path, engine: FakeEngine, qtbot) -> MainWindow:
    return make_window(tmp_path, engine, qtbot)


@pytest.fixture
def menus(monkeypatch) -> list[QMenu]:
    """The context menus that would pop up, kept instead of shown."""
    shown: list[QMenu] = []
    monkeypatch.setattr(QMenu, "popup", lambda menu, *args: shown.append(menu))
    return shown


@pytest.fixture
def save_dialog(monkeypatch, tmp_path: Path) -> list[tuple[str, str]]:
    """Save dialogs answer tmp/out/NAME (the suggested name, no suffix); records title, start."""
    asked: list[tuple[str, str]] = []

    def answer(parent, title, start, *args, **kwargs):
        asked.append((title, start))
        return str(tmp_path / "out" / Path(start).stem), "PNG images (*.png)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", answer)
    return asked


def context_menu(widget: QWidget, menus: list[QMenu], pos: QPoint | None = None) -> QMenu:
    point = pos or QPoint(5, 5)
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, point, widget.mapToGlobal(point))
    widget.contextMenuEvent(event)
    return menus[-1]


def trigger(menu: QMenu, text: str) -> None:
    (action,) = [a for a in menu.actions() if a.text().replace("&", "") == text]
    assert action.isEnabled(), text
    action.trigger()


def clipboard_size() -> tuple[int, int]:
    image = QApplication.clipboard().image()
    return image.width(), image.height()


def compare_once(window: MainWindow, engine: FakeEngine, size: int = 48) -> None:
    window.session.width = window.session.height = size
    assert window.generate()
    finish(window, engine)


def test_copy_puts_the_full_size_image_on_the_clipboard(window, engine, menus) -> None:
    compare_once(window, engine, 48)
    teacher = window.comparison.teacher_view
    teacher.set_zoom(5.0)
    QApplication.clipboard().clear()
    window.window_actions.copy_image.trigger()
    assert clipboard_size() == (48, 48)
    assert "Copied the teacher image (48x48)" in window.status_line.text()
    QApplication.clipboard().clear()
    trigger(context_menu(window.comparison.student_view, menus), "Copy image")
    assert clipboard_size() == (48, 48)


def test_an_empty_pane_offers_nothing_to_copy(window, menus) -> None:
    menu = context_menu(window.comparison.teacher_view, menus)
    assert not any(action.isEnabled() for action in menu.actions())
    window.window_actions.copy_image.trigger()
    assert "no teacher image to copy" in window.banner.message()


def test_save_as_writes_the_png_with_its_gallery_parameters(
    window, engine, save_dialog, tmp_path
) -> None:
    compare_once(window, engine, 40)
    window.comparison.student_view.setFocus()
    window.window_actions.save_image.trigger()
    (title, start), saved = save_dialog[0], window.session.gallery.items
    assert title == "Save the image as"
    student = next(item for item in saved if "student" in item.parameters)
    assert Path(start) == window.session.gallery.store.folder / student.path.name
    written = tmp_path / "out" / f"{student.path.stem}.png"
    assert read_image(written).shape == (40, 40, 3)
    assert np.array_equal(read_image(written), read_image(student.path))
    assert read_parameters(written) == student.parameters
    assert "with its parameters" in window.status_line.text()
    assert not list(written.parent.glob(".*.tmp"))


def test_a_picture_not_in_the_gallery_is_saved_as_a_plain_png(
    window, engine, save_dialog, menus, tmp_path
) -> None:
    compare_once(window, engine, 40)
    window.comparison.set_mode("difference")
    trigger(context_menu(window.comparison.difference_view, menus), "Save image as…")
    written = tmp_path / "out" / "image.png"
    assert read_image(written).shape == (40, 40, 3)
    assert read_parameters(written) is None
    assert "plain PNG" in window.status_line.text()
    assert Path(save_dialog[0][1]).parent == window.session.gallery.store.folder
    window.window_actions.save_image.trigger()
    assert Path(save_dialog[1][1]).parent == tmp_path / "out", "the folder last saved into"


def test_export_grid_writes_the_whole_labelled_sheet(window, engine, qtbot, save_dialog, tmp_path):
    set_axes(window, qtbot, ("sampler", "DDIM, Euler"), ("steps", "2, 3, 4"))
    run_grid(window, qtbot)
    finish(window, engine)
    button = window.grid_panel.export_button
    assert button.isEnabled()
    button.click()
    grid = window.session.grid
    assert grid.grid is not None and grid.base is not None
    written = tmp_path / "out" / f"grid-{grid.base.params.seed}.png"
    title = grid_title(grid.base.model.display_name, grid.base.params, grid.grid)
    width, height = layout(grid.grid, list(grid.cells.values()), title).size
    assert read_image(written).shape == (height, width, 3)
    assert width > 2 * 32 and height > 3 * 32, "two columns and three rows of labelled cells"
    assert 'Grid X: "sampler=DDIM,Euler", Grid Y: "steps=2,3,4"' in (read_parameters(written) or "")
    file_menu = window.menuBar().actions()[0].menu()
    assert window.window_actions.export_grid in file_menu.actions()


def test_export_grid_before_any_grid_says_so(window, save_dialog) -> None:
    assert not window.grid_panel.export_button.isEnabled()
    window.window_actions.export_grid.trigger()
    assert "Run a grid first" in window.banner.message() and not save_dialog


def test_history_menu_reveals_copies_and_deletes_both_images(
    window, engine, menus, monkeypatch
) -> None:
    compare_once(window, engine, 32)
    strip, gallery = window.gallery_strip, window.session.gallery
    paths = [item.path for item in gallery.items]
    assert strip.count() == 2
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    center = strip.visualItemRect(strip.item(1)).center()
    trigger(context_menu(strip, menus, center), "Reveal in folder")
    assert Path(opened[0].toLocalFile()) == gallery.store.folder
    QApplication.clipboard().clear()
    trigger(context_menu(strip, menus, center), "Copy image")
    assert clipboard_size() == (32, 32)
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes]
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: answers.pop(0))
    trigger(context_menu(strip, menus, center), "Delete…")
    assert all(path.exists() for path in paths) and strip.count() == 2
    trigger(context_menu(strip, menus, center), "Delete…")
    assert not any(path.exists() for path in paths)
    assert strip.count() == 0 and gallery.items == []


def test_history_delete_refuses_files_outside_the_gallery(window, engine, tmp_path, monkeypatch):
    compare_once(window, engine, 32)
    gallery = window.session.gallery
    paths = [item.path for item in gallery.items]
    gallery.store = GalleryStore(tmp_path / "elsewhere")
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert window.gallery_strip.confirm_delete(0) == []
    assert all(path.exists() for path in paths)
    assert window.gallery_strip.count() == 2
    assert window.banner.message().startswith("Not deleted:")
    assert "is not an image of the gallery folder" in window.banner.message()


def test_a_new_result_shows_however_far_history_was_scrolled(window, engine) -> None:
    strip = window.gallery_strip
    bar = strip.horizontalScrollBar()
    for _ in range(40):
        compare_once(window, engine, 16)
        strip.doItemsLayout()
        if bar.maximum() > 0:
            break
    assert bar.maximum() > 0, "the strip never overflowed"
    bar.setValue(bar.maximum())
    QApplication.processEvents()
    assert not strip.viewport().rect().contains(strip.visualItemRect(strip.item(0)))
    compare_once(window, engine, 16)
    strip.doItemsLayout()
    QApplication.processEvents()
    newest = Path(strip.path_at(0))
    assert newest == window.session.gallery.items[0].path
    assert strip.viewport().rect().contains(strip.visualItemRect(strip.item(0)))


def test_open_image_starts_in_the_output_folder_and_shows_the_image(
    window, engine, monkeypatch
) -> None:
    compare_once(window, engine, 24)
    gallery = window.session.gallery
    teacher = next(item for item in gallery.items if "teacher" in item.parameters)
    window.generate()
    finish(window, engine)
    window.study_actions.tabs[1].trigger()
    assert window.tabs.currentWidget() is not window.preview
    starts: list[str] = []

    def choose(parent, title, start, *args, **kwargs):
        starts.append(start)
        return str(teacher.path), "PNG images (*.png)"

    monkeypatch.setattr(QFileDialog, "getOpenFileName", choose)
    window.window_actions.open_image.trigger()
    assert Path(starts[0]) == gallery.store.folder
    assert window.tabs.currentWidget() is window.preview
    pane = window.comparison.teacher_view
    assert np.array_equal(pane.image_array(), read_image(teacher.path))
    params = teacher.parsed.params if teacher.parsed else None
    assert params is not None
    assert pane.caption() == (
        f"Opened · {teacher.path.name} · {params.num_inference_steps} steps · "
        f"{params.sampler} · CFG {params.guidance_scale:g}"
    )
    assert window.comparison.is_single_lane()


@pytest.fixture
def animation_dialog(monkeypatch, tmp_path: Path) -> list[tuple[str, str]]:
    """Save dialogs answer tmp/out/NAME with no suffix and the GIF filter picked."""
    asked: list[tuple[str, str]] = []

    def answer(parent, title, start, *args, **kwargs):
        asked.append((title, start))
        return str(tmp_path / "out" / Path(start).stem), "Animated GIF (*.gif)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", answer)
    return asked


def test_export_comparison_writes_an_animation_after_a_comparison(
    window, engine, animation_dialog, tmp_path
) -> None:
    action = window.window_actions.export_comparison
    assert not action.isEnabled()
    window.session.seed = 5
    compare_once(window, engine, 32)
    assert action.isEnabled()
    action.trigger()
    ((title, start),) = animation_dialog
    assert title == "Export the comparison as" and Path(start).name == "compare-5.webp"
    written = tmp_path / "out" / "compare-5.gif"
    with Image.open(written) as image:
        assert image.format == "GIF" and image.n_frames == 26
    assert f"Exported the comparison animation to {written}." in window.status_line.text()


@pytest.mark.parametrize(
    ("answer", "picked", "wanted"),
    [("cmp", "MP4 video (*.mp4)", "cmp.mp4"), ("cmp.MP4", "Animated GIF (*.gif)", "cmp.MP4")],
)
def test_the_animation_dialog_offers_mp4(monkeypatch, tmp_path, answer, picked, wanted) -> None:
    offered: list[str] = []

    def dialog(parent, title, start, filters):
        offered.extend(filters.split(";;"))
        offered.append(title)
        return str(tmp_path / answer), picked

    monkeypatch.setattr(QFileDialog, "getSaveFileName", dialog)
    chosen = ask_animation_path(None, tmp_path / "compare-5.webp", "Export the comparison as")
    assert chosen == tmp_path / wanted
    offered.remove("Export the comparison as")
    assert offered == ["Animated WebP (*.webp)", "Animated GIF (*.gif)", "MP4 video (*.mp4)"]


def test_without_pyav_the_dialog_offers_no_mp4_and_a_typed_mp4_says_why(
    window, engine, monkeypatch, tmp_path
) -> None:
    monkeypatch.setattr(video, "video_available", lambda: False)
    compare_once(window, engine, 32)
    offered: list[str] = []

    def dialog(parent, title, start, filters):
        offered.extend(filters.split(";;"))
        return str(tmp_path / "cmp.mp4"), "Animated WebP (*.webp)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", dialog)
    window.window_actions.export_comparison.trigger()
    assert offered == ["Animated WebP (*.webp)", "Animated GIF (*.gif)"]
    assert window.banner.message() == f"Could not save cmp.mp4: {video.NOT_INSTALLED}."
    assert not list(tmp_path.glob("cmp*"))


def test_export_comparison_failure_is_one_sentence(window, engine, monkeypatch, tmp_path) -> None:
    compare_once(window, engine, 32)
    folder = tmp_path / "taken.webp"
    folder.mkdir()
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *a, **k: (str(folder), "Animated WebP (*.webp)")
    )
    window.window_actions.export_comparison.trigger()
    text = window.banner.message()
    assert text.startswith("Could not save taken.webp: ") and text.endswith(".")
    assert text.count(". ") == 0 and list(folder.iterdir()) == []
