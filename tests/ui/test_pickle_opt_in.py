"""The per-file pickle opt-in in the window: a pickle checkpoint in the Models tab is used only
after the user allows that one file (Cancel is the default), the permission is kept per path,
size and mtime in the settings, a changed file asks again, and jobs carry `allow_pickle` for
that file only."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from studio.core.commands import Submit
from studio.core.jobs import CompareJob, GenerateJob
from studio.core.models import ModelSource
from studio.ui.main_window import MainWindow
from studio.ui.pickle_opt_in import ask_pickle_permission, pickle_dialog, pickle_heading
from tests.core.test_model_library import SD1_KEYS, safetensors
from tests.ui.test_main_window import child, make_window
from tests.viewmodels.fake_engine import FakeEngine


class Answers:
    """Stands in for the dialog: records each file asked about and gives a fixed answer."""

    def __init__(self, allow: bool) -> None:
        self.allow = allow
        self.asked: list[Path] = []

    def __call__(self, _parent, path: Path) -> bool:
        self.asked.append(path)
        return self.allow


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "my-models"
    safetensors(root / "dreamshaper.safetensors", SD1_KEYS)
    root.joinpath("anything-v3.ckpt").write_bytes(pickle.dumps({"state_dict": {}}, protocol=2))
    root.joinpath("other.ckpt").write_bytes(pickle.dumps({"state_dict": {}}, protocol=2))
    return root


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def window(tmp_path: Path, engine: FakeEngine, models: Path, qtbot) -> MainWindow:
    window = make_window(tmp_path, engine, qtbot)
    window.set_models_folder(models)
    return window


def click_use(window: MainWindow, qtbot, name: str, button: str = "useAsTeacher") -> None:
    names = [e.name for e in window.library.entries]
    window.library_panel.table.selectRow(names.index(name))
    assert child(window, button).isEnabled()
    qtbot.mouseClick(child(window, button), Qt.MouseButton.LeftButton)


def lanes(window: MainWindow) -> tuple[str, str, bool]:
    s = window.session
    return (s.teacher_model, s.student_model, s.compare_mode)


def sent_jobs(engine: FakeEngine) -> list:
    return [c.job for c in engine.sent if isinstance(c, Submit)]


def test_declining_leaves_the_lanes_unchanged(window, models, qtbot):
    before = lanes(window)
    answers = Answers(allow=False)
    window.pickles.ask = answers
    click_use(window, qtbot, "anything-v3.ckpt")
    assert answers.asked == [models / "anything-v3.ckpt"]
    assert lanes(window) == before
    assert window.session.pickle_permissions.entries == ()
    assert window.status_line.text() == "Nothing changed: anything-v3.ckpt was not allowed."
    click_use(window, qtbot, "anything-v3.ckpt", "useAsStudent")
    assert lanes(window) == before and len(answers.asked) == 2


def test_allowing_sets_allow_pickle_for_that_file_only(window, models, engine, qtbot, tmp_path):
    answers = Answers(allow=True)
    window.pickles.ask = answers
    click_use(window, qtbot, "anything-v3.ckpt")
    path = models / "anything-v3.ckpt"
    assert window.session.teacher_model == str(path) and not window.session.compare_mode
    (job_id,) = window.generate()
    (job,) = sent_jobs(engine)
    assert isinstance(job, GenerateJob) and job.job_id == job_id
    ref = job.lane.model
    assert (ref.location, ref.source, ref.allow_pickle) == (str(path), ModelSource.file, True)
    permissions = window.session.pickle_permissions
    assert not window.session.models.resolve(str(models / "other.ckpt"), permissions).allow_pickle
    resolve = window.session.models.resolve
    assert not resolve(str(models / "dreamshaper.safetensors"), permissions).allow_pickle
    saved = json.loads((tmp_path / "settings.json").read_text())["pickle_permissions"]
    assert [entry["path"] for entry in saved] == [str(path)], "saved at once, not at close"


def test_the_allowed_file_shows_as_allowed_and_is_not_asked_again(window, models, qtbot):
    answers = Answers(allow=True)
    window.pickles.ask = answers
    click_use(window, qtbot, "anything-v3.ckpt")
    table = window.library_panel.table
    names = [e.name for e in window.library.entries]
    assert table.item(names.index("anything-v3.ckpt"), 4).text() == "pickle, allowed"
    assert table.item(names.index("other.ckpt"), 4).text() == "pickle"
    click_use(window, qtbot, "anything-v3.ckpt", "useAsStudent")
    assert answers.asked == [models / "anything-v3.ckpt"]
    assert window.session.compare_mode


def test_a_modified_file_asks_again(window, models, engine, qtbot):
    answers = Answers(allow=True)
    window.pickles.ask = answers
    click_use(window, qtbot, "anything-v3.ckpt")
    path = models / "anything-v3.ckpt"
    later = path.stat().st_mtime_ns + 3_000_000_000
    path.write_bytes(pickle.dumps({"state_dict": {"other": 1}}, protocol=2))
    os.utime(path, ns=(later, later))
    window.generate()
    (job,) = sent_jobs(engine)
    assert not job.lane.model.allow_pickle, "a replaced file lost its permission"
    answers.allow = False
    click_use(window, qtbot, "anything-v3.ckpt")
    assert answers.asked == [path, path]
    assert not window.session.pickle_permissions.allows(path)
    answers.allow = True
    click_use(window, qtbot, "anything-v3.ckpt")
    assert window.session.pickle_permissions.allows(path)


def test_a_student_lane_job_carries_allow_pickle_on_that_lane_only(window, models, engine, qtbot):
    window.pickles.ask = Answers(allow=True)
    click_use(window, qtbot, "dreamshaper.safetensors")
    click_use(window, qtbot, "anything-v3.ckpt", "useAsStudent")
    window.generate()
    (job,) = sent_jobs(engine)
    assert isinstance(job, CompareJob)
    assert not job.teacher.model.allow_pickle
    assert job.student.model.location == str(models / "anything-v3.ckpt")
    assert job.student.model.allow_pickle


def test_without_the_opt_in_the_job_goes_out_refusable(window, models, engine):
    """A pickle chosen another way (the picker, a restored image) is sent without the opt-in,
    so the engine refuses it with its usual message."""
    window.session.teacher_model = str(models / "other.ckpt")
    window.session.compare_mode = False
    window.generate()
    (job,) = sent_jobs(engine)
    assert (job.lane.model.source, job.lane.model.allow_pickle) == (ModelSource.file, False)


def test_forgetting_takes_every_permission_back(window, models, qtbot, tmp_path):
    answers = Answers(allow=True)
    window.pickles.ask = answers
    forget = child(window, "forgetPickles")
    assert not forget.isEnabled()
    click_use(window, qtbot, "anything-v3.ckpt")
    assert forget.isEnabled()
    qtbot.mouseClick(forget, Qt.MouseButton.LeftButton)
    assert window.session.pickle_permissions.entries == ()
    assert not forget.isEnabled()
    assert json.loads((tmp_path / "settings.json").read_text())["pickle_permissions"] == []
    assert "Forgot the permissions of 1 pickle file" in window.status_line.text()
    click_use(window, qtbot, "anything-v3.ckpt")
    assert len(answers.asked) == 2


def test_the_permission_is_remembered_at_the_next_start(window, models, qtbot, tmp_path):
    window.pickles.ask = Answers(allow=True)
    click_use(window, qtbot, "anything-v3.ckpt")
    window.close()
    second = make_window(tmp_path, FakeEngine(), qtbot)
    answers = Answers(allow=False)
    second.pickles.ask = answers
    assert second.session.pickle_permissions.allows(models / "anything-v3.ckpt")
    click_use(second, qtbot, "anything-v3.ckpt", "useAsStudent")
    assert answers.asked == [] and second.session.compare_mode


def test_safetensors_files_are_never_asked_about(window, models, qtbot):
    answers = Answers(allow=False)
    window.pickles.ask = answers
    click_use(window, qtbot, "dreamshaper.safetensors")
    assert answers.asked == []
    assert window.session.teacher_model == str(models / "dreamshaper.safetensors")


def test_the_dialog_explains_and_defaults_to_cancel(window, models):
    path = models / "anything-v3.ckpt"
    box = pickle_dialog(window, path)
    assert box.text() == (
        f"<b>Allow the pickle checkpoint anything-v3.ckpt (27 bytes)?</b><br>{path}"
    )
    paragraph = box.informativeText()
    for phrase in ("can run any code", "torch.load(weights_only=True)", "this one file"):
        assert phrase in paragraph
    assert "\n" not in paragraph
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)
    assert box.escapeButton() is box.button(QMessageBox.StandardButton.Cancel)
    assert box.windowTitle() == "Allow a pickle checkpoint?"
    box.deleteLater()


def test_a_file_name_shows_as_text_not_markup(tmp_path):
    path = tmp_path / "<i>x.ckpt"
    path.write_bytes(b"\x80\x02N.")
    assert "&lt;i&gt;x.ckpt" in pickle_heading(path)
    assert "<i>" not in pickle_heading(path)


def answer_later(qtbot, action) -> None:
    """Act on the dialog once it is up (it runs its own event loop)."""

    def act() -> None:
        box = QApplication.activeModalWidget()
        if box is None:
            QTimer.singleShot(20, act)
            return
        action(box)

    QTimer.singleShot(20, act)


def test_the_real_dialog_enter_cancels_and_allow_allows(window, models, qtbot):
    path = models / "anything-v3.ckpt"
    answer_later(qtbot, lambda box: qtbot.keyClick(box, Qt.Key.Key_Return))
    assert ask_pickle_permission(window, path) is False
    answer_later(qtbot, lambda box: qtbot.keyClick(box, Qt.Key.Key_Escape))
    assert ask_pickle_permission(window, path) is False
    answer_later(qtbot, allow)
    assert ask_pickle_permission(window, path) is True


def allow(box: QMessageBox) -> None:
    assert box.objectName() == "pickleOptIn"
    button = next(b for b in box.buttons() if b.objectName() == "allowPickle")
    button.click()
