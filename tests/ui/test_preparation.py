"""A lane's one-off preparation (an analytic-variance Gamma table) shown, cleared and cancelled."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from studio.core.commands import Cancel
from studio.core.events import Event, PrepareProgress, StepProgress
from studio.core.jobs import Lane
from studio.core.samplers import SAMPLERS
from studio.core.settings import Settings
from studio.ui.main_window import MainWindow
from studio.ui.preview_area import end_state, lane_caption
from studio.ui.progress import LaneProgress
from studio.viewmodels.lane import LaneEnd, LaneViewModel
from studio.viewmodels.session import SessionViewModel
from tests.ui.test_main_window import child, make_window
from tests.viewmodels.fake_engine import GAMMA_TASKS, FakeEngine

ANALYTIC = "DDPM (analytic variance)"
ESTIMATING = GAMMA_TASKS[1]


def prepare(done: int, total: int = 50, task: str = ESTIMATING) -> PrepareProgress:
    return PrepareProgress(job_id="j", lane=Lane.teacher, task=task, done=done, total=total)


def step(n: int, elapsed: float) -> StepProgress:
    return StepProgress(job_id="j", lane=Lane.teacher, step=n, total=5, elapsed_s=elapsed)


def is_estimating(event: Event, done: int) -> bool:
    return isinstance(event, PrepareProgress) and event.task == ESTIMATING and event.done == done


def handle_until(
    session: SessionViewModel, events: Iterator[Event], stop=lambda _: False
) -> Iterator[Event]:
    """Hand events to the session until `stop(event)` holds (inclusive); the rest continue."""
    for event in events:
        session.handle(event)
        if stop(event):
            break
    QApplication.processEvents()
    return events


@pytest.fixture
def lane(qapp) -> LaneViewModel:
    return LaneViewModel(Lane.teacher, Settings().teacher)


@pytest.fixture
def tables(engine: FakeEngine) -> FakeEngine:
    engine.gamma_units = 4
    return engine


# --- lane view-model ---------------------------------------------------------------------------


def test_preparation_is_the_status_until_the_first_step(lane: LaneViewModel, qtbot) -> None:
    lane.begin("j", 5)
    with qtbot.waitSignal(lane.preparationChanged), qtbot.assertNotEmitted(lane.progressChanged):
        lane.on_prepare(prepare(37))
    assert lane.status == "Estimating the Gamma table (first use of this model): 37/50"
    assert lane.preparing and lane.preparation.done == 37
    assert (lane.step, lane.total, math.isnan(lane.eta_s)) == (0, 5, True)
    with qtbot.waitSignal(lane.preparationChanged):
        lane.on_step(step(1, elapsed=2.0))
    assert not lane.preparing and lane.preparation is None
    assert lane.status == "Step 1/5 · 8.0 s left"
    lane.on_prepare(prepare(38))
    assert lane.preparation is None and lane.status.startswith("Step 1/5")


def test_preparation_is_ignored_unless_running_and_kept_after_a_cancel(lane, qtbot) -> None:
    lane.on_prepare(prepare(1))
    assert lane.preparation is None and lane.status == "Ready"
    lane.begin("j", 5)
    lane.on_prepare(prepare(2, task=GAMMA_TASKS[0]))
    lane.end("Cancelled", LaneEnd.cancelled)
    assert not lane.preparing and lane.preparation == prepare(2, task=GAMMA_TASKS[0])
    assert (lane.status, lane.running) == ("Cancelled", False)
    with qtbot.waitSignal(lane.preparationChanged):
        lane.begin("k", 5)
    assert lane.preparation is None and lane.status == "Waiting…"


@pytest.mark.parametrize(
    ("ended", "state", "caption"),
    [
        (LaneEnd.failed, "failed", ""),
        (LaneEnd.engine_stopped, "failed", ""),
        (LaneEnd.stopped, "stopped", "did not run: the job was stopped before"),
        (LaneEnd.cancelled, "cancelled", "did not run: the job was cancelled before"),
    ],
)
def test_the_end_state_comes_from_the_lane_end_not_its_status_text(
    lane, ended: LaneEnd, state: str, caption: str
) -> None:
    lane.begin("j", 5)
    lane.end("Beendet", ended)
    assert end_state(lane) == state
    assert caption in lane_caption("Teacher", lane)


# --- session -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("keep", "note"), [(False, "Cancelling…"), (True, "Stopping…")])
def test_session_routes_preparation_and_cancel_during_it_ends_cleanly(
    session: SessionViewModel, tables: FakeEngine, keep: bool, note: str
) -> None:
    session.teacher.sampler = ANALYTIC
    (job_id,) = session.generate()
    rest = handle_until(session, tables.events(), lambda e: is_estimating(e, 2))
    teacher = session.teacher
    assert teacher.preparing and teacher.status.endswith("(first use of this model): 2/4")
    assert session.student.status == "Waiting…" and not session.student.preparing
    (session.stop if keep else session.cancel)()
    assert teacher.status == note and teacher.preparing
    handle_until(session, rest)
    assert Cancel(job_id=job_id, keep_partial=keep) in tables.sent
    assert not session.busy and session.queue.count == 0 and session.gallery.items == []
    assert (teacher.status, teacher.running, teacher.preparing) == ("Cancelled", False, False)
    assert not any(isinstance(e, StepProgress) for e in tables.events())


def test_steps_clear_the_preparation_and_the_table_is_made_once(
    session: SessionViewModel, tables: FakeEngine
) -> None:
    session.teacher.sampler = ANALYTIC
    session.generate()
    rest = handle_until(session, tables.events(), lambda e: isinstance(e, StepProgress))
    assert not session.teacher.preparing and session.teacher.status.startswith("Step 1/25")
    handle_until(session, rest)
    assert session.teacher.status.startswith("Done") and len(session.gallery.items) == 2
    session.generate()
    seen: list[Event] = []
    tables.pump(lambda e: (seen.append(e), session.handle(e)))
    assert not any(isinstance(e, PrepareProgress) for e in seen)


# --- window ------------------------------------------------------------------------------------


@pytest.fixture
def window(tmp_path: Path, tables: FakeEngine, qtbot) -> MainWindow:
    window = make_window(tmp_path, tables, qtbot)
    child(window, "teacherSampler").setCurrentText(ANALYTIC)
    assert window.session.teacher.sampler == ANALYTIC
    return window


def test_window_shows_the_table_estimate_then_the_steps(window, tables) -> None:
    window.generate()
    session, progress = window.session, window.preview.progress["teacher"]
    rest = handle_until(session, tables.events(), lambda e: is_estimating(e, 3))
    assert progress.preparing() and progress.text() == "preparing 3/4"
    assert (progress.bar.value(), progress.bar.maximum()) == (3, 4)
    assert "first use of this model" in progress.status_label.toolTip()
    caption = window.comparison.teacher_view.caption()
    assert caption.endswith(" · Estimating the Gamma table (first use of this model): 3/4")
    assert window.preview.progress["student"].text() == "step 0/4"
    rest = handle_until(session, rest, lambda e: isinstance(e, StepProgress))
    assert not progress.preparing() and progress.text().startswith("step 1/25")
    assert progress.bar.maximum() == 25 and progress.status_label.toolTip() == ""
    assert "step 1/25" in window.comparison.teacher_view.caption()
    handle_until(session, rest)
    assert progress.state() == "done" and progress.text() == "done · 25 steps"


def test_escape_during_the_table_estimate_cancels_and_generate_works_again(
    window, tables, qtbot
) -> None:
    (job_id,) = window.generate()
    session, progress = window.session, window.preview.progress["teacher"]
    rest = handle_until(session, tables.events(), lambda e: is_estimating(e, 1))
    qtbot.keyClick(child(window, "promptEdit"), Qt.Key.Key_Escape)
    assert Cancel(job_id=job_id, keep_partial=False) in tables.sent
    assert window.comparison.teacher_view.caption().endswith(" · Cancelling…")
    handle_until(session, rest)
    assert not session.busy and not child(window, "cancelButton").isEnabled()
    assert child(window, "generateButton").isEnabled()
    assert progress.state() == "cancelled" and progress.text() == "cancelled while preparing"
    assert "Estimating" not in window.comparison.teacher_view.caption()
    assert len(window.generate()) == 1
    rest = handle_until(session, tables.events(), lambda e: isinstance(e, PrepareProgress))
    assert progress.state() == "running" and progress.text() == "preparing 1/4"
    handle_until(session, rest)
    assert progress.state() == "done" and not progress.preparing()


# --- widgets -----------------------------------------------------------------------------------


def test_lane_progress_shows_preparation_then_steps(qtbot) -> None:
    progress = LaneProgress("Teacher")
    qtbot.addWidget(progress)
    progress.set_preparing(3, 50, "Estimating the Gamma table (first use of this model): 3/50")
    assert progress.state() == "running" and progress.text() == "preparing 3/50"
    assert (progress.bar.value(), progress.bar.maximum()) == (3, 50)
    assert progress.bar.toolTip().startswith("Estimating")
    progress.set_progress(1, 25, 4.0)
    assert progress.text() == "step 1/25 · ETA 4.0 s" and progress.bar.maximum() == 25
    progress.set_preparing(7, 50)
    progress.set_state("failed")
    assert progress.text() == "failed while preparing" and progress.bar.value() == 7
    progress.set_state("idle")
    assert progress.text() == "idle" and not progress.preparing()


def test_gamma_table_samplers_say_their_first_run_takes_minutes(window) -> None:
    combo, note = child(window, "teacherSampler"), child(window, "teacherSamplerNote")
    assert note.isVisible() and "few minutes" in note.text()
    assert "few minutes" in combo.toolTip()
    for index, spec in enumerate(SAMPLERS):
        tip = combo.itemData(index, Qt.ItemDataRole.ToolTipRole)
        assert spec.summary in tip and ("few minutes" in tip) == (
            spec.needs_gamma_table or spec.needs_predictor
        )
    combo.setCurrentText("Euler")
    assert not note.isVisible() and "few minutes" not in combo.toolTip()
    assert not child(window, "studentSamplerNote").isVisible()
