"""The preset picker in the window: choosing a published pair sets both lanes at once."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from studio.core import model_resolver
from studio.core.gallery import GalleryStore
from studio.core.jobs import CompareJob
from studio.core.model_presets import (
    USER_FOLDER,
    load_model_presets,
    preset_model_name,
    student_recipe,
)
from studio.core.model_resolver import ModelResolver
from studio.core.models import ModelSource
from studio.core.paths import models_dir, presets_dir
from studio.core.settings import Settings, save_settings
from studio.core.student_refs import StudentRef
from studio.ui.main_window import MainWindow
from studio.ui.preset_picker import NAME_ROLE, PLACEHOLDER
from studio.viewmodels.session import SessionViewModel
from studio.viewmodels.settings import SettingsViewModel
from tests.ui.test_main_window import geometry_store

LIGHTNING = "SDXL-Lightning 4-step (LoRA)"


@pytest.fixture(autouse=True)
def shipped_catalogue(tmp_path_factory, monkeypatch):
    """The shipped presets only, whatever the user's config folder holds."""
    empty = tmp_path_factory.mktemp("no-user-presets")
    monkeypatch.setattr(model_resolver, "default_user_presets_dir", lambda: empty)


def shipped_resolver() -> ModelResolver:
    return ModelResolver(models_dir(), load_model_presets(presets_dir(), None))


def open_window(tmp_path: Path, engine, qtbot, models: ModelResolver | None = None) -> MainWindow:
    settings = SettingsViewModel(tmp_path / "settings.json")
    session = SessionViewModel(
        engine,
        GalleryStore(tmp_path / "gallery"),
        settings.load(),
        rng=random.Random(3),
        models=models,
    )
    window = MainWindow(session, settings, geometry_store(tmp_path))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def choose(window: MainWindow, name: str) -> None:
    combo = window.controls.preset_combo
    row = combo.findData(name, NAME_ROLE)
    assert row > 0, name
    combo.setCurrentIndex(row)
    combo.activated.emit(row)


def test_the_picker_lists_every_preset_under_family_headings(tmp_path, engine, qtbot):
    combo = open_window(tmp_path, engine, qtbot).controls.preset_combo
    names = [combo.itemData(i, NAME_ROLE) for i in range(combo.count())]
    assert [n for n in names if n] == [p.name for p in sorted_by_family()]
    headings = [combo.itemText(i) for i in range(1, combo.count()) if not names[i]]
    assert headings == [
        "Stable Diffusion 1.5",
        "Stable Diffusion 2.1",
        "SDXL",
        "Stable Diffusion 3.5",
        "FLUX.1",
    ]
    assert combo.currentText() == PLACEHOLDER
    heading_row = names.index(None, 1)
    assert not combo.model().item(heading_row).isEnabled()
    assert "Licence" in combo.itemData(names.index(LIGHTNING), Qt.ItemDataRole.ToolTipRole)


def sorted_by_family():
    order = ["sd15", "sd21", "sdxl", "sd3", "flux"]
    return sorted(shipped_resolver().presets.presets, key=lambda p: order.index(p.family))


def test_choosing_a_preset_sets_both_lanes_and_the_size(tmp_path, engine, qtbot):
    window = open_window(tmp_path, engine, qtbot)
    preset = shipped_resolver().preset(LIGHTNING)
    choose(window, LIGHTNING)
    s = window.session
    assert s.teacher_model == "stabilityai/stable-diffusion-xl-base-1.0"
    assert s.student_model == preset_model_name(preset) and s.compare_mode
    assert s.student.recipe == student_recipe(preset) and s.teacher.recipe == preset.teacher
    assert (s.width, s.height) == (1024, 1024) and s.student.guidance_distilled
    assert window.controls.model_combo.currentText().endswith(LIGHTNING)
    assert window.controls.preset_combo.currentText().strip() == LIGHTNING
    assert LIGHTNING in window.controls.student_panel.model_label.text()
    assert "openrail" in window.status_line.text().lower()
    window.generate()
    (job,) = engine.jobs
    assert isinstance(job, CompareJob)
    assert job.teacher.model.source is ModelSource.hub
    student = job.student.model
    assert isinstance(student, StudentRef) and student.adapter == preset.adapter
    assert job.student.params.sampler == "Euler trailing"
    assert job.student.params.num_inference_steps == 4 and job.student.params.guidance_scale == 0


def test_a_cfg_student_keeps_its_guidance_and_no_distilled_warning(tmp_path, engine, qtbot):
    window = open_window(tmp_path, engine, qtbot)
    choose(window, "Hyper-SDXL 8-step CFG (LoRA)")
    assert window.session.student.guidance_scale == 5.0
    assert not window.session.student.guidance_distilled


def test_changing_the_models_puts_the_picker_back_to_its_placeholder(tmp_path, engine, qtbot):
    window = open_window(tmp_path, engine, qtbot)
    choose(window, LIGHTNING)
    window.session.compare_mode = False
    assert window.controls.preset_combo.currentText() == PLACEHOLDER


def test_a_preset_pair_is_restored_at_start(tmp_path, engine, qtbot):
    preset = shipped_resolver().preset(LIGHTNING)
    save_settings(
        tmp_path / "settings.json",
        Settings(teacher_model=preset.base, student_model=preset_model_name(preset)),
    )
    window = open_window(tmp_path, engine, qtbot)
    assert window.session.student_model == preset_model_name(preset)
    assert window.controls.preset_combo.currentText().strip() == LIGHTNING
    assert window.controls.model_combo.currentText().endswith(LIGHTNING)


def test_preset_and_hub_names_become_refs():
    resolve = shipped_resolver().resolve
    ref = resolve("preset:" + LIGHTNING)
    assert isinstance(ref, StudentRef) and ref.display_name == LIGHTNING
    hub = resolve("org/some-model")
    assert (hub.source, hub.location) == (ModelSource.hub, "org/some-model")
    with pytest.raises(ValueError, match="There is no model preset named 'nope'"):
        resolve("preset:nope")


def test_junk_user_presets_are_a_notice_not_a_crash(tmp_path, engine, qtbot):
    folder = tmp_path / USER_FOLDER
    folder.mkdir()
    (folder / "broken.json").write_text("{not json")
    (folder / "mine.json").write_text(json.dumps({"name": "Mine", "family": "sdxl"}))
    models = ModelResolver(models_dir(), load_model_presets(presets_dir(), folder), folder)
    window = open_window(tmp_path, engine, qtbot, models)
    assert window.banner.isVisible() and window.banner.kind == "notice"
    assert "broken.json" in window.banner.message() or "mine.json" in window.banner.message()
    assert window.controls.preset_combo.findData(LIGHTNING, NAME_ROLE) > 0


def test_a_preset_students_image_records_and_restores_the_preset(tmp_path, engine, qtbot):
    window = open_window(tmp_path, engine, qtbot)
    choose(window, LIGHTNING)
    s = window.session
    with qtbot.waitSignal(s.gallery.changed):
        s.generate()
        engine.pump(s.handle)
    student_item = next(i for i in s.gallery.items if i.parsed.extra.get("Lane") == "student")
    assert student_item.parsed.model == "preset:" + LIGHTNING
    assert student_item.parsed.extra["Adapter"].startswith("ByteDance/SDXL-Lightning/")
    s.student_model = "emoji-student-4step"
    s.apply_parameters(student_item.parsed)
    assert s.student_model == "preset:" + LIGHTNING
