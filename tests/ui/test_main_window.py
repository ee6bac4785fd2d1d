"""The studio window against the scripted fake engine, offscreen."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import qasync
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

from studio.app import EngineStartup, StudioApp
from studio.core.commands import Cancel, LoadModel
from studio.core.events import Event, JobStarted, LaneFinished, PreviewReady, StepProgress
from studio.core.gallery import GalleryStore
from studio.core.jobs import CompareJob, GenerateJob, Lane
from studio.core.model_resolver import ModelResolver
from studio.core.pngio import write_png
from studio.core.settings import DEFAULT_PROMPT, load_settings
from studio.ui.main_window import MainWindow
from studio.viewmodels.model_pairs import ModelPair, ModelPairs, self_pair
from studio.viewmodels.recipe_presets import shipped_presets
from studio.viewmodels.session import SessionViewModel
from studio.viewmodels.settings import SettingsViewModel
from tests.viewmodels.fake_engine import FAIL_MESSAGE, FakeEngine

OBJECT_NAMES = (
    "promptEdit",
    "negativePromptEdit",
    "modelCombo",
    "teacherSampler",
    "teacherSteps",
    "teacherGuidance",
    "studentSampler",
    "studentSteps",
    "studentGuidance",
    "seedSpin",
    "generateButton",
    "cancelButton",
    "teacherPane",
    "studentPane",
    "comparisonSummary",
    "galleryList",
)
A1111_TEXT = (
    "a cosy cabin\nNegative prompt: people\n"
    "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 1234, Size: 64x48"
)


def geometry_store(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "geometry.ini"), QSettings.Format.IniFormat)


def make_window(tmp_path: Path, engine: FakeEngine, qtbot, **kwargs) -> MainWindow:
    settings = SettingsViewModel(tmp_path / "settings.json")
    loaded = settings.load()
    session = SessionViewModel(
        engine, GalleryStore(tmp_path / "gallery"), loaded, rng=random.Random(3)
    )
    window = MainWindow(session, settings, geometry_store(tmp_path), **kwargs)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    return window


@pytest.fixture
def window(tmp_path: Path, engine: FakeEngine, qtbot) -> MainWindow:
    return make_window(tmp_path, engine, qtbot)


def child(window: MainWindow, name: str) -> QWidget:
    found = window.findChild(QWidget, name)
    assert found is not None, name
    return found


def pump_until(window: MainWindow, engine: FakeEngine, wanted: type) -> Iterator[Event]:
    """Hand events to the session until one of type `wanted` (inclusive); the rest continue."""
    events = engine.events()
    for event in events:
        window.session.handle(event)
        if isinstance(event, wanted):
            break
    return events


def finish(window: MainWindow, engine: FakeEngine) -> None:
    engine.pump(window.session.handle)
    QApplication.processEvents()


def test_main_controls_have_their_object_names(window: MainWindow) -> None:
    for name in OBJECT_NAMES:
        assert child(window, name).isVisible(), name


def test_ctrl_enter_generates_with_the_typed_prompt(window, engine, qtbot) -> None:
    prompt = child(window, "promptEdit")
    prompt.clear()
    qtbot.keyClicks(prompt, "winking face")
    qtbot.keyClick(prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    (job,) = engine.jobs
    assert isinstance(job, CompareJob)
    assert job.teacher.params.prompt == job.student.params.prompt == "winking face"
    assert child(window, "cancelButton").isEnabled()


def test_generate_button_sends_the_recipes_shown(window, engine, qtbot) -> None:
    child(window, "teacherSteps").setValue(12)
    child(window, "studentGuidance").setValue(2.5)
    child(window, "seedSpin").setValue(3_000_000_000)
    child(window, "previewEverySpin").setValue(5)
    qtbot.mouseClick(child(window, "generateButton"), Qt.MouseButton.LeftButton)
    (job,) = engine.jobs
    assert job.teacher.params.num_inference_steps == 12
    assert job.student.params.guidance_scale == 2.5
    assert job.teacher.params.seed == 3_000_000_000
    assert job.previews.every == 5


def test_escape_cancels_the_running_job(window, engine, qtbot) -> None:
    (job_id,) = window.generate()
    rest = pump_until(window, engine, StepProgress)
    qtbot.keyClick(child(window, "promptEdit"), Qt.Key.Key_Escape)
    assert Cancel(job_id=job_id, keep_partial=False) in engine.sent
    for event in rest:
        window.session.handle(event)
    assert not window.session.busy
    assert not child(window, "cancelButton").isEnabled()
    assert window.preview.progress["teacher"].state() == "cancelled"


def test_stop_keeps_the_partial_image(window, engine, qtbot) -> None:
    (job_id,) = window.generate()
    rest = pump_until(window, engine, PreviewReady)
    qtbot.mouseClick(child(window, "stopButton"), Qt.MouseButton.LeftButton)
    assert Cancel(job_id=job_id, keep_partial=True) in engine.sent
    for event in rest:
        window.session.handle(event)
    assert window.comparison.teacher_view.has_image()
    assert "partial" in window.comparison.teacher_view.caption()


def test_previews_fill_the_panes_while_running(window, engine) -> None:
    window.generate()
    pump_until(window, engine, PreviewReady)
    view = window.comparison.teacher_view
    assert view.has_image() and view.image_size() == (32, 32)
    assert not window.comparison.student_view.has_image()
    assert "step 1/25" in view.caption()
    assert window.preview.progress["teacher"].text().startswith("step 1/25")


def test_finished_comparison_shows_times_speedup_and_psnr(window, engine) -> None:
    window.generate()
    finish(window, engine)
    comparison = window.comparison
    assert comparison.teacher_view.has_image() and comparison.student_view.has_image()
    summary = child(window, "comparisonSummary").text()
    assert "faster" in summary and "PSNR" in summary
    assert "25 steps · total 0.26 s · denoise 0.25 s" in comparison.teacher_view.caption()
    assert "4 steps" in comparison.student_view.caption()
    assert window.preview.strips["teacher"].frame_count() == 25
    assert window.preview.progress["student"].state() == "done"


def test_step_strip_scrubs_through_the_run(window, engine) -> None:
    window.generate()
    finish(window, engine)
    strip = window.preview.strips["teacher"]
    strip.select_step(3)
    shown = window.comparison.teacher_view
    expected = window.session.teacher.preview_at(3)
    assert expected is not None
    assert shown.caption().startswith("Teacher · emoji-teacher · showing step 3 of 25 · ")
    window.preview.set_preview_kind("xt")
    assert window.session.student.preview_kind == "xt"
    assert strip.frame_count() == 25


def test_failed_job_shows_the_message_and_generate_works_again(window, engine, qtbot) -> None:
    engine.fail_at_step = 2
    window.generate()
    finish(window, engine)
    banner = child(window, "messageBanner")
    assert banner.isVisible() and FAIL_MESSAGE in window.banner.message()
    assert window.preview.progress["teacher"].state() == "failed"
    engine.fail_at_step = None
    qtbot.mouseClick(child(window, "generateButton"), Qt.MouseButton.LeftButton)
    assert len(engine.jobs) == 2 and not banner.isVisible()
    finish(window, engine)
    assert "faster" in window.comparison.summary()


def test_invalid_recipe_is_refused_with_a_message(window, engine) -> None:
    window.session.width = 33
    assert window.generate() == []
    assert "multiple of 8" in window.banner.message() and engine.jobs == []


def test_gallery_click_restores_the_parameters(window, engine, qtbot) -> None:
    window.session.prompt = "cat face"
    window.generate()
    finish(window, engine)
    gallery = child(window, "galleryList")
    assert gallery.count() == 2
    window.session.prompt, window.session.seed = "something else", 99
    window.session.student.num_inference_steps = 9
    rect = gallery.visualItemRect(gallery.item(0))
    qtbot.mouseClick(gallery.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert child(window, "promptEdit").toPlainText() == "cat face"
    assert child(window, "seedSpin").value() == 0
    assert child(window, "studentSteps").value() == 4


def drop_events(path: Path) -> tuple[QDragEnterEvent, QDropEvent, QMimeData]:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    action, button = Qt.DropAction.CopyAction, Qt.MouseButton.LeftButton
    modifiers = Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPoint(10, 10), action, mime, button, modifiers)
    drop = QDropEvent(QPointF(10, 10), action, mime, button, modifiers)
    return enter, drop, mime


def test_dropping_an_a1111_png_loads_its_parameters(window, tmp_path: Path) -> None:
    path = write_png(tmp_path / "cabin.png", np.zeros((4, 4, 3), np.uint8), A1111_TEXT)
    enter, drop, _mime = drop_events(path)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(window, drop)
    assert child(window, "promptEdit").toPlainText() == "a cosy cabin"
    assert child(window, "negativePromptEdit").toPlainText() == "people"
    assert child(window, "teacherSampler").currentText() == "DPM++ 2M Karras"
    assert child(window, "teacherGuidance").value() == 6.5
    assert "cabin.png" in window.status_line.text()


def test_a_png_dropped_on_the_prompt_loads_parameters_instead_of_text(window, tmp_path) -> None:
    path = write_png(tmp_path / "cabin.png", np.zeros((4, 4, 3), np.uint8), A1111_TEXT)
    enter, drop, _mime = drop_events(path)
    prompt = child(window, "promptEdit").viewport()
    QApplication.sendEvent(prompt, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(prompt, drop)
    assert child(window, "promptEdit").toPlainText() == "a cosy cabin"


def test_dropping_a_non_png_is_refused(window, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    enter, _drop, _mime = drop_events(text)
    enter.setAccepted(False)
    QApplication.sendEvent(window, enter)
    assert not enter.isAccepted()


def test_preset_applies_a_recipe_and_warnings_show(window) -> None:
    combo = child(window, "teacherPreset")
    lcm = next(i for i, p in enumerate(shipped_presets()) if p.recipe.sampler == "LCM") + 1
    combo.activated.emit(lcm)
    assert child(window, "teacherSampler").currentText() == "LCM"
    assert child(window, "teacherSteps").value() == 4 and combo.currentIndex() == 0
    window.session.negative_prompt = "blurry"
    messages = child(window, "teacherMessages")
    assert messages.isVisible() and "negative prompt is ignored" in messages.text()
    assert not child(window, "teacherEta").isEnabled()
    child(window, "teacherSampler").setCurrentText("DDIM")
    assert child(window, "teacherEta").isEnabled()


def test_recipe_edits_update_the_idle_caption_only(window) -> None:
    child(window, "teacherSteps").setValue(30)
    assert "30 steps" in window.comparison.teacher_view.caption()
    assert window.preview.progress["teacher"].state() == "idle"


def test_distilled_student_warns_about_cfg(tmp_path: Path, engine, qtbot) -> None:
    pair = ModelPair(
        teacher="emoji-teacher",
        student="emoji-student-4step",
        label="emoji-teacher → emoji-student-4step",
        student_label="emoji-student-4step",
        guidance_distilled=True,
    )
    window = make_window(tmp_path, engine, qtbot, pairs=[pair, self_pair("emoji-teacher")])
    window.apply_pair(pair)
    child(window, "studentGuidance").setValue(4.0)
    assert "guidance-distilled" in child(window, "studentMessages").text()
    window.apply_pair(self_pair("emoji-teacher"))
    assert "guidance-distilled" not in child(window, "studentMessages").text()


def test_missing_student_falls_back_to_the_teacher_labelled_honestly(window, engine) -> None:
    combo = child(window, "modelCombo")
    assert window.session.student_model == "emoji-teacher"
    assert "itself, 4-step recipe" in combo.currentText()
    assert "4-step recipe" in window.comparison.student_view.caption()
    assert not window.session.student.guidance_distilled
    window.generate()
    (job,) = engine.jobs
    assert job.student.model.location == "emoji-teacher"


def test_teacher_alone_runs_one_lane(window, engine) -> None:
    alone = next(p for p in window.controls.model_combo.pairs() if not p.compare)
    window.apply_pair(alone)
    assert not window.comparison.student_view.isVisible()
    window.generate()
    assert isinstance(engine.jobs[0], GenerateJob)
    finish(window, engine)
    assert window.comparison.teacher_view.has_image()


def test_open_model_folder_adds_it_to_the_picker(window, tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    assert window.add_model_folder(folder) is None
    assert "no model_index.json" in window.banner.message()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "X"}))
    pair = window.add_model_folder(folder)
    assert pair is not None and window.session.teacher_model == str(folder.resolve())
    assert (window.session.width, window.session.height) == (512, 512)
    assert child(window, "modelCombo").currentText() == "my-model alone"


def test_an_sdxl_folder_gets_its_1024_and_a_chosen_size_is_kept(window, tmp_path: Path) -> None:
    def sdxl(name: str) -> Path:
        folder = tmp_path / name
        (folder / "unet").mkdir(parents=True)
        (folder / "model_index.json").write_text(
            json.dumps({"_class_name": "StableDiffusionXLPipeline", "vae": ["diffusers", "X"]})
        )
        (folder / "unet" / "config.json").write_text(json.dumps({"sample_size": 128}))
        return folder

    assert window.add_model_folder(sdxl("xl")) is not None
    assert (window.session.width, window.session.height) == (1024, 1024)
    window.session.width, window.session.height = 896, 640
    assert window.add_model_folder(sdxl("xl-2")) is not None
    assert (window.session.width, window.session.height) == (896, 640)


def test_restored_student_model_selects_its_pair(window, engine, qtbot) -> None:
    window.session.compare_mode = False
    window.session.student_model = "emoji-teacher"
    window.session.compare_mode = True
    qtbot.waitUntil(lambda: "itself" in child(window, "modelCombo").currentText())


def test_engine_failure_keeps_the_window_usable(window, engine) -> None:
    window.set_engine_failed("The engine is not running: torch could not be imported.")
    assert not child(window, "generateButton").isEnabled()
    assert window.generate() == [] and engine.jobs == []
    assert "torch could not be imported" in window.banner.message()
    child(window, "promptEdit").setPlainText("still editable")
    assert window.session.prompt == "still editable"


def test_settings_and_geometry_are_saved_on_close(tmp_path: Path, engine, qtbot) -> None:
    window = make_window(tmp_path, engine, qtbot)
    window.resize(1111, 777)
    child(window, "promptEdit").setPlainText("saved prompt")
    child(window, "studentSteps").setValue(6)
    window.preview.set_preview_kind("xt")
    window.comparison.set_smooth(True)
    window.close()
    settings, notice = load_settings(tmp_path / "settings.json")
    assert notice is None and settings.shared.prompt == "saved prompt"
    assert settings.student.num_inference_steps == 6
    assert (settings.preview_kind, settings.upscale) == ("xt", "smooth")
    assert geometry_store(tmp_path).value("window/geometry")
    again = make_window(tmp_path, FakeEngine(), qtbot)
    assert abs(again.width() - 1111) <= 8 and abs(again.height() - 777) <= 8
    assert child(again, "promptEdit").toPlainText() == "saved prompt"
    assert again.comparison.is_smooth()


def test_corrupt_settings_start_with_defaults_and_a_notice(tmp_path: Path, qtbot) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(b"{ not json")
    studio = StudioApp(
        settings_path=path,
        gallery_dir=tmp_path / "gallery",
        geometry=geometry_store(tmp_path),
        client=FakeEngine(),
    )
    qtbot.addWidget(studio.window)
    assert studio.session.prompt == DEFAULT_PROMPT
    assert studio.window.banner.kind == "notice"
    assert "could not be used" in studio.window.banner.message()
    assert list(tmp_path.glob("settings.corrupt-*.json"))


class DeadEngine(FakeEngine):
    """A fake engine whose worker thread has died."""

    alive = False


def test_app_runs_on_the_qasync_loop_and_shuts_down(tmp_path: Path, qapp, qtbot) -> None:
    engine = FakeEngine(delay_s=0.0005)
    studio = StudioApp(
        settings_path=tmp_path / "settings.json",
        gallery_dir=tmp_path / "gallery",
        geometry=geometry_store(tmp_path),
        client=engine,
    )

    async def scenario() -> int:
        running = asyncio.ensure_future(studio.run())
        while not studio.window.isVisible():
            await asyncio.sleep(0.01)
        studio.window.generate()
        while not studio.window.comparison.summary():
            await asyncio.sleep(0.01)
        studio.window.close()
        return await asyncio.wait_for(running, timeout=5)

    loop = qasync.QEventLoop(qapp)
    try:
        assert loop.run_until_complete(scenario()) == 0
    finally:
        loop.close()
    assert any(isinstance(c, LoadModel) for c in engine.sent) and engine.closed
    assert "faster" in studio.window.comparison.summary()
    assert (tmp_path / "settings.json").exists()


def test_engine_start_failure_is_shown_and_the_window_stays_usable(tmp_path: Path, qapp) -> None:
    def broken_engine() -> None:
        raise ImportError("No module named 'torch'")

    studio = StudioApp(
        settings_path=tmp_path / "settings.json",
        gallery_dir=tmp_path / "gallery",
        geometry=geometry_store(tmp_path),
        startup=EngineStartup(broken_engine),
    )

    async def scenario() -> int:
        running = asyncio.ensure_future(studio.run())
        deadline = time.monotonic() + 10
        while not studio.window.engine_failure and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        studio.window.controls.prompt_edit.setPlainText("still editable")
        studio.window.close()
        return await asyncio.wait_for(running, timeout=10)

    loop = qasync.QEventLoop(qapp)
    try:
        assert loop.run_until_complete(scenario()) == 0
    finally:
        loop.close()
    assert "No module named 'torch'" in studio.window.banner.message()
    assert not studio.window.controls.generate_button.isEnabled()
    assert studio.session.prompt == "still editable"


def test_a_dead_engine_thread_is_reported(tmp_path: Path, qtbot) -> None:
    studio = StudioApp(
        settings_path=tmp_path / "settings.json",
        gallery_dir=tmp_path / "gallery",
        geometry=geometry_store(tmp_path),
        client=DeadEngine(),
    )
    qtbot.addWidget(studio.window)
    studio._check_engine()
    assert "engine thread stopped" in studio.window.banner.message()
    assert not studio.window.controls.generate_button.isEnabled()


def test_default_pairs_put_the_distilled_student_first(tmp_path: Path) -> None:
    for name in ("emoji-teacher", "emoji-student-4step"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model_index.json").write_text("{}")
    (tmp_path / "emoji-student-4step" / "training.json").write_text('{"teacher_step": 14000}')
    pairs = ModelPairs(ModelResolver(tmp_path)).pairs_of(["emoji-student-4step", "emoji-teacher"])
    assert [p.key for p in pairs] == [
        ("emoji-teacher", "emoji-student-4step"),
        ("emoji-teacher", "emoji-teacher"),
        ("emoji-teacher", None),
    ]
    assert pairs[0].guidance_distilled and not pairs[1].guidance_distilled
    assert pairs[1].student_label == "emoji-teacher, 4-step recipe"


def test_lane_finished_for_a_lane_never_started_is_harmless(window, engine) -> None:
    window.generate()
    events = list(engine.events())
    started = next(e for e in events if isinstance(e, JobStarted))
    window.session.handle(started)
    late = next(e for e in events if isinstance(e, LaneFinished) and e.lane is Lane.student)
    window.session.handle(late)
    assert window.comparison.student_view.has_image()


@pytest.mark.parametrize(
    ("argv", "engine"),
    [([], "process"), (["window"], "process"), (["window", "--thread-engine"], "thread")],
)
def test_studio_without_a_command_opens_the_window(argv, engine, monkeypatch) -> None:
    import studio.app
    import studio.cli.window
    from studio.cli import main

    opened: list[str] = []
    monkeypatch.setattr(studio.app, "run", lambda engine, **_: opened.append(engine.value) or 0)
    monkeypatch.setattr(studio.cli.window, "early_engine", lambda: None)
    assert main(argv) == 0 and opened == [engine]


def test_dropping_a_comfyui_png_loads_its_parameters(window, tmp_path: Path) -> None:
    from tests.core.foreign_fixtures import NEGATIVE, POSITIVE, comfy_workflow, png_with

    path = png_with(tmp_path / "comfy.png", {"workflow": comfy_workflow()})
    enter, drop, _mime = drop_events(path)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(window, drop)
    assert child(window, "promptEdit").toPlainText() == POSITIVE
    assert child(window, "negativePromptEdit").toPlainText() == NEGATIVE
    assert child(window, "teacherSampler").currentText() == "DPM++ 2M Karras"
    assert child(window, "teacherGuidance").value() == 8.0
    assert "comfy.png" in window.status_line.text()
