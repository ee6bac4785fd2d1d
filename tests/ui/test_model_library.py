"""The Models tab: a picked models folder scanned, listed, offered in the picker and put to use."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.core.commands import Submit
from studio.core.models import ModelSource
from studio.ui.main_window import MainWindow
from tests.core.test_model_library import SD1_KEYS, SD2_KEYS, pipeline_folder, safetensors
from tests.ui.test_main_window import child, make_window
from tests.viewmodels.fake_engine import FakeEngine


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "my-models"
    pipeline_folder(root / "sd15-diffusers")
    safetensors(root / "dreamshaper.safetensors", SD1_KEYS)
    safetensors(root / "v2-1_512.safetensors", SD2_KEYS)
    safetensors(root / "Lora" / "detail.safetensors", ["lora_unet_x.lora_up.weight"])
    (root / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    return root


@pytest.fixture
def window(tmp_path: Path, qtbot) -> MainWindow:
    return make_window(tmp_path, FakeEngine(), qtbot)


def row_of(window: MainWindow, name: str) -> int:
    entries = [e.name for e in window.library.entries]
    return entries.index(name)


def select(window: MainWindow, name: str) -> None:
    window.library_panel.table.selectRow(row_of(window, name))


def test_a_scanned_folder_is_listed_in_the_models_tab(window, models):
    window.set_models_folder(models)
    table = window.library_panel.table
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Models"
    assert table.rowCount() == 5 + len(window.library.builtins)
    row = row_of(window, "dreamshaper.safetensors")
    cells = [table.item(row, c).text() for c in range(table.columnCount())]
    assert cells[:3] == ["dreamshaper.safetensors", "SD 1.x", "single file"]
    assert cells[3].endswith("bytes") and cells[4] == "safetensors, fp16"
    broken = table.item(row_of(window, "broken.safetensors"), 5).text()
    assert broken.startswith("It is a damaged safetensors file")
    assert child(window, "librarySummary").text() == (f"5 models found, 3 loadable, in {models}.")
    assert window.status_line.text() == child(window, "librarySummary").text()


def test_loadable_models_are_offered_in_the_picker(window, models):
    window.set_models_folder(models)
    labels = [pair.label for pair in window.controls.model_combo.pairs()]
    for name in ("sd15-diffusers", "dreamshaper.safetensors", "v2-1_512.safetensors"):
        assert f"{name} alone" in labels
    assert not any("detail" in label or "broken" in label for label in labels)


def test_use_as_teacher_puts_a_single_file_to_use(window, models, qtbot):
    window.set_models_folder(models)
    select(window, "dreamshaper.safetensors")
    assert child(window, "useAsTeacher").isEnabled()
    assert not child(window, "singleFileConfig").isVisible()
    qtbot.mouseClick(child(window, "useAsTeacher"), qtbot_left())
    session = window.session
    assert session.teacher_model == str(models / "dreamshaper.safetensors")
    assert not session.compare_mode
    assert window.controls.model_combo.current_pair().label == "dreamshaper.safetensors alone"
    ref = session.models.resolve(session.teacher_model)
    assert (ref.source, ref.config) == (ModelSource.file, "")


def test_an_sd2_file_offers_its_configs(window, models, qtbot):
    window.set_models_folder(models)
    select(window, "v2-1_512.safetensors")
    combo = child(window, "singleFileConfig")
    assert combo.isVisible()
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "SD 2.x 768, v-prediction",
        "SD 2.x base 512, noise prediction",
    ]
    combo.setCurrentIndex(1)
    qtbot.mouseClick(child(window, "useAsTeacher"), qtbot_left())
    name = window.session.teacher_model
    assert name == f"{models / 'v2-1_512.safetensors'}#config=sd21-base"
    assert window.controls.model_combo.current_pair().label == (
        "v2-1_512.safetensors (sd21-base) alone"
    )
    ref = window.session.models.resolve(name)
    assert (ref.location, ref.source, ref.config) == (
        str(models / "v2-1_512.safetensors"),
        ModelSource.file,
        "sd21-base",
    )
    assert len(window.generate()) == 1


def test_adapters_and_broken_files_cannot_be_used_as_teachers(window, models):
    window.set_models_folder(models)
    select(window, "Lora/detail.safetensors")
    assert not child(window, "useAsTeacher").isEnabled()
    assert not child(window, "useAsStudent").isEnabled()
    select(window, "broken.safetensors")
    assert not child(window, "useAsTeacher").isEnabled()
    before = window.session.teacher_model
    window.library_panel._use(row_of(window, "broken.safetensors"), as_student=False)
    assert window.session.teacher_model == before


def test_use_as_student_pairs_it_with_the_current_teacher(window, models, qtbot):
    window.set_models_folder(models)
    teacher = window.session.teacher_model
    select(window, "sd15-diffusers")
    qtbot.mouseClick(child(window, "useAsStudent"), qtbot_left())
    assert window.session.compare_mode
    assert (window.session.teacher_model, window.session.student_model) == (
        teacher,
        str(models / "sd15-diffusers"),
    )


def test_the_folder_is_remembered_and_scanned_at_the_next_start(tmp_path, models, qtbot):
    first = make_window(tmp_path, FakeEngine(), qtbot)
    first.set_models_folder(models)
    first.save_state()
    first.close()
    second = make_window(tmp_path, FakeEngine(), qtbot)
    assert second.library.folder == str(models)
    assert second.library_panel.table.rowCount() == 5 + len(second.library.builtins)


def test_a_job_for_a_library_model_names_the_file(tmp_path, models, qtbot):
    engine = FakeEngine()
    window = make_window(tmp_path, engine, qtbot)
    window.set_models_folder(models)
    window.use_library_model(str(models / "dreamshaper.safetensors"), as_student=False)
    (job_id,) = window.generate()
    (submit,) = [c for c in engine.sent if isinstance(c, Submit) and c.job.job_id == job_id]
    ((_lane, spec),) = submit.job.lanes
    assert (spec.model.source, spec.model.location) == (
        ModelSource.file,
        str(models / "dreamshaper.safetensors"),
    )


def qtbot_left():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


def test_the_library_says_when_there_is_nothing_to_list(qapp, tmp_path):
    from studio.viewmodels.model_library import ModelLibraryViewModel

    library = ModelLibraryViewModel(builtin_root=tmp_path / "no-builtins")
    assert library.scan() == () and library.summary() == "No models folder chosen."
    library.set_folder(str(tmp_path / "gone"))
    assert library.summary() == f"No models found in {tmp_path / 'gone'}."
