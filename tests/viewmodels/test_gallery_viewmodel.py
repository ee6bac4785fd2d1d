"""GalleryViewModel: saving finished jobs, failures kept in memory, restore, PNG import."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from studio.core import gallery as gallery_module
from studio.core.gallery import GalleryStore
from studio.core.params import GenerationParams
from studio.core.pngio import write_png
from studio.viewmodels.gallery import GalleryViewModel
from studio.viewmodels.session import SessionViewModel
from tests.viewmodels.fake_engine import FakeEngine

A1111_TEXT = (
    "a cosy cabin\nNegative prompt: people\n"
    "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 1234, Size: 64x48, "
    "Model: sd_xl_base_1.0"
)


def finish_one_job(session: SessionViewModel, engine: FakeEngine) -> None:
    session.generate()
    engine.pump(session.handle)


def test_finished_job_is_saved_newest_first(session, engine, qtbot) -> None:
    with qtbot.waitSignal(session.gallery.changed):
        finish_one_job(session, engine)
    items = session.gallery.items
    assert [i.path.name for i in items] == ["studio-0002.png", "studio-0001.png"]
    assert items[0].parsed.model == "emoji-student-4step"
    assert items[1].parsed.params == engine.jobs[0].teacher.params
    reloaded = GalleryViewModel(session.gallery.store)
    reloaded.load()
    assert {i.path for i in reloaded.items} == {i.path for i in items}


def test_read_only_folder_keeps_images_for_save_again(session, engine, monkeypatch, qtbot):
    real_write = gallery_module.write_png

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(gallery_module, "write_png", refuse)
    with qtbot.waitSignal(session.gallery.error) as blocker:
        finish_one_job(session, engine)
    folder = session.gallery.store.folder
    assert blocker.args == [
        f"Could not save the teacher image to {folder} (Read-only file system), so it is kept"
        " in memory: free some space or choose another output folder, then press Save again."
    ]
    assert len(session.gallery.unsaved) == 2 and session.gallery.items == []
    assert session.last_error == blocker.args[0]
    monkeypatch.setattr(gallery_module, "write_png", real_write)
    with qtbot.waitSignal(session.gallery.unsavedChanged) as blocker:
        assert session.gallery.save_again() == 2
    assert blocker.args == [0] and len(session.gallery.items) == 2


def test_folder_blocked_by_a_file_reports_and_keeps(qapp, tmp_path: Path, qtbot) -> None:
    blocker_file = tmp_path / "g"
    blocker_file.write_text("x")
    engine = FakeEngine()
    session = SessionViewModel(engine, GalleryStore(blocker_file))
    with qtbot.waitSignal(session.gallery.error) as blocker:
        finish_one_job(session, engine)
    assert "so it is kept in memory" in blocker.args[0] and "Save again" in blocker.args[0]
    assert len(session.gallery.unsaved) == 2 and not session.busy


def test_restore_applies_lane_recipe_to_the_session(session, engine, qtbot) -> None:
    finish_one_job(session, engine)
    session.prompt, session.seed = "something else", 99
    session.student.num_inference_steps = 8
    parsed = session.gallery.restore(0)
    assert parsed is not None and parsed.extra["Lane"] == "student"
    assert (session.prompt, session.seed, session.student.num_inference_steps) == (
        engine.jobs[0].student.params.prompt,
        0,
        4,
    )
    with qtbot.waitSignal(session.gallery.error) as blocker:
        assert session.gallery.restore(7) is None
    assert blocker.args == ["There is no gallery image number 8."]


def test_import_a1111_png(session, tmp_path: Path) -> None:
    path = write_png(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8), A1111_TEXT)
    parsed = session.gallery.import_png(path)
    assert parsed is not None
    assert (session.prompt, session.negative_prompt, session.seed) == (
        "a cosy cabin",
        "people",
        1234,
    )
    assert (session.width, session.height) == (64, 48)
    assert (session.teacher.sampler, session.teacher.guidance_scale) == ("DPM++ 2M Karras", 6.5)
    assert session.teacher_model == "emoji-teacher"


def test_import_rejects_non_png_and_png_without_parameters(session, tmp_path: Path, qtbot):
    jpeg = tmp_path / "photo.jpg"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(jpeg)
    with qtbot.waitSignal(session.gallery.error) as blocker:
        assert session.gallery.import_png(jpeg) is None
    assert blocker.args == ["photo.jpg is not a PNG image: drop a PNG made by Studio or A1111."]
    plain = tmp_path / "plain.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "hello")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(plain, pnginfo=info)
    with qtbot.waitSignal(session.gallery.error) as blocker:
        assert session.gallery.import_png(plain) is None
    assert blocker.args[0].startswith("plain.png has no generation parameters")
    with qtbot.waitSignal(session.gallery.error):
        session.gallery.import_png(tmp_path / "missing.png")


def test_import_notes_odd_values(session, tmp_path: Path, qtbot) -> None:
    text = "fox\nSteps: many, Sampler: Euler, Seed: 3, Size: 16x16"
    path = write_png(tmp_path / "odd.png", np.zeros((4, 4, 3), np.uint8), text)
    with qtbot.waitSignal(session.gallery.notice) as blocker:
        session.gallery.import_png(path)
    assert "Steps 'many' is not a whole number" in blocker.args[0]
    assert session.teacher.num_inference_steps == GenerationParams().num_inference_steps


def test_import_comfyui_and_invokeai_pngs_tells_what_was_not_mapped(session, tmp_path, qtbot):
    from tests.core.foreign_fixtures import comfy_prompt, invokeai5_metadata, png_with

    comfy = png_with(
        tmp_path / "comfy.png", {"prompt": comfy_prompt(sampler="dpmpp_3m_sde", seed=9)}
    )
    with qtbot.waitSignal(session.gallery.notice) as blocker:
        parsed = session.gallery.import_png(comfy)
    assert parsed is not None and parsed.source == "ComfyUI"
    assert (session.seed, session.width, session.height) == (9, 512, 768)
    assert session.teacher.guidance_scale == 8.0
    assert "Not taken from ComfyUI:" in blocker.args[0] and "dpmpp_3m_sde" in blocker.args[0]
    invoke = png_with(tmp_path / "invoke.png", {"invokeai_metadata": invokeai5_metadata()})
    with qtbot.waitSignal(session.gallery.notice) as blocker:
        assert session.gallery.import_png(invoke) is not None
    assert (session.prompt, session.teacher.sampler) == (
        "a robot reading a book",
        "DPM++ 2M Karras",
    )
    assert "loras (1)" in blocker.args[0]
