"""The Grid and Convergence tabs against the scripted fake engine, offscreen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from studio.core.commands import Cancel
from studio.core.convergence import DEFAULT_STEPS
from studio.core.convergence_estimate import default_samplers
from studio.core.events import ConvergencePointReady, GridCellFinished, JobProgress
from studio.core.jobs import ConvergeJob, GridJob
from studio.ui.main_window import MainWindow
from tests.ui.test_main_window import child, finish, make_window, pump_until
from tests.viewmodels.fake_engine import STEP_S, FakeEngine
from tests.viewmodels.fake_studies import MISFIT_MESSAGE


@pytest.fixture
def window(tmp_path: Path, engine: FakeEngine, qtbot) -> MainWindow:
    return make_window(tmp_path, engine, qtbot)


@pytest.fixture(autouse=True)
def long_runs_confirmed(monkeypatch) -> list[str]:
    """Answer OK to the question a long convergence run asks (no modal dialog in tests)."""
    asked: list[str] = []

    def answer(parent, title, text, *args, **kwargs):
        asked.append(text)
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "question", answer)
    return asked


def set_axes(window: MainWindow, qtbot, x: tuple[str, str], y: tuple[str, str]) -> None:
    for name, (axis, values) in (("X", x), ("Y", y)):
        combo = child(window, f"grid{name}Axis")
        combo.setCurrentIndex(combo.findData(axis))
        edit = child(window, f"grid{name}Values")
        edit.clear()
        qtbot.keyClicks(edit, values)


def run_grid(window: MainWindow, qtbot) -> None:
    qtbot.keyClick(window, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)


def test_ctrl_g_sends_the_grid_of_the_chosen_axes(window, engine: FakeEngine, qtbot) -> None:
    set_axes(window, qtbot, ("sampler", "DDIM, Euler, Heun"), ("steps", "2, 3"))
    run_grid(window, qtbot)
    (job,) = engine.jobs
    assert isinstance(job, GridJob) and (job.grid.columns, job.grid.rows) == (3, 2)
    assert job.base.params.prompt == window.session.prompt
    assert window.current_page() is window.grid_panel
    assert window.queue_panel.findChild(object) is not None


def test_cells_stream_in_with_progress_and_captions(window, engine, qtbot) -> None:
    set_axes(window, qtbot, ("sampler", "DDIM, Euler, Heun"), ("steps", "2, 3"))
    run_grid(window, qtbot)
    rest = pump_until(window, engine, GridCellFinished)
    view = window.grid_panel.view
    assert list(view.cells) == [(0, 0)]
    for event in rest:
        window.session.handle(event)
        if isinstance(event, JobProgress):
            break
    status = child(window, "gridStatus").text()
    assert status.startswith("Cell 2/6 · Euler · 2 steps"), status
    assert view.running == (1, 0)
    for event in rest:
        window.session.handle(event)
    assert len(view.cells) == 6 and view.running is None
    assert view.cells[(0, 1)].lines == ("DDIM", "3 steps", "0.03 s · 3 NFE")
    assert view.cells[(2, 0)].image is None and MISFIT_MESSAGE in view.cells[(2, 0)].tip
    assert child(window, "gridStatus").text() == "Done"
    assert not window.session.busy


def open_sampler_cell(window: MainWindow, engine: FakeEngine, qtbot) -> None:
    """Run a DDIM/Euler x 2/3-steps grid and click its Euler 3-steps cell."""
    set_axes(window, qtbot, ("sampler", "DDIM, Euler"), ("steps", "2, 3"))
    run_grid(window, qtbot)
    finish(window, engine)
    view = window.grid_panel.view
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.cell_rect(1, 1).center())


def test_clicking_a_cell_opens_it_beside_the_pinned_one(window, engine, qtbot) -> None:
    open_sampler_cell(window, engine, qtbot)
    view = window.grid_panel.view
    assert window.current_page() is window.preview
    comparison = window.comparison
    assert comparison.teacher_view.has_image() and comparison.student_view.has_image()
    assert comparison.student_view.caption().startswith("Euler · 3 steps")
    assert comparison.teacher_view.caption().startswith("DDIM · 2 steps")
    assert "PSNR" in comparison.summary() and "SSIM" in comparison.summary()
    assert "faster" in comparison.summary() or "slower" in comparison.summary()
    comparison.set_mode("difference")
    assert comparison.difference_view.caption().startswith("|Pinned − Cell|")
    comparison.set_mode("side_by_side")
    window.show_page(window.grid_panel)
    qtbot.mouseClick(
        view,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.ShiftModifier,
        view.cell_rect(1, 0).center(),
    )
    assert view.pinned == (1, 0)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Down)
    qtbot.keyClick(view, Qt.Key.Key_Return)
    assert comparison.teacher_view.caption().startswith("Euler · 2 steps")
    assert comparison.student_view.caption().startswith("Euler · 3 steps")


def test_generating_again_gives_the_panes_back_to_the_lanes(window, engine, qtbot) -> None:
    run_grid(window, qtbot)
    finish(window, engine)
    view = window.grid_panel.view
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.cell_rect(1, 0).center())
    assert window.preview.pair is not None
    window.generate()
    finish(window, engine)
    assert window.preview.pair is None
    assert "faster" in window.comparison.summary()
    window.comparison.set_mode("difference")
    assert window.comparison.difference_view.caption().startswith("|Teacher − Student|")


def test_a_bad_axis_shows_one_sentence_and_sends_nothing(window, engine, qtbot) -> None:
    set_axes(window, qtbot, ("steps", "2, four"), ("guidance", "1, 3"))
    run_grid(window, qtbot)
    assert engine.jobs == []
    assert "'four' is not a whole number" in window.banner.message()


def test_escape_cancels_a_running_grid(window, engine, qtbot) -> None:
    run_grid(window, qtbot)
    (job,) = engine.jobs
    rest = pump_until(window, engine, GridCellFinished)
    qtbot.keyClick(child(window, "promptEdit"), Qt.Key.Key_Escape)
    assert Cancel(job_id=job.job_id, keep_partial=False) in engine.sent
    for event in rest:
        window.session.handle(event)
    assert child(window, "gridStatus").text() == "Cancelled"
    assert len(window.grid_panel.view.cells) == 1


def test_convergence_curves_plot_as_points_arrive(window, engine, qtbot, tmp_path) -> None:
    window.show_page(window.convergence_panel)
    steps = child(window, "convergenceSteps")
    steps.clear()
    qtbot.keyClicks(steps, "1, 2, 4, 8")
    child(window, "convergenceCases").setValue(3)
    qtbot.keyClick(
        window,
        Qt.Key.Key_G,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    (job,) = engine.jobs
    assert isinstance(job, ConvergeJob) and job.spec.steps == (1, 2, 4, 8)
    seed = window.session.seed
    assert job.spec.seeds == (seed, seed + 1, seed + 2) and job.spec.samplers == ()
    rest = pump_until(window, engine, ConvergencePointReady)
    plot = child(window, "convergencePlot")
    assert len(plot.chart.points) == 1
    for event in rest:
        window.session.handle(event)
    QApplication.processEvents()
    assert len(plot.chart.points) == 12
    summary = child(window, "convergenceSummary").text()
    assert summary.startswith("Fewest evaluations to 30 dB: DPM++ 2M"), summary
    assert not plot.grab().toImage().isNull()
    assert len(plot.chart.placed) == 12, "every point was drawn"
    qtbot.mouseClick(
        window.convergence_panel.metric_buttons["agreement"], Qt.MouseButton.LeftButton
    )
    assert window.session.convergence.metric == "agreement" and plot.chart.metric.key == "agreement"
    saved = window.session.convergence.save_csv(tmp_path / "curve.csv")
    window.session.convergence.points = []
    assert window.session.convergence.load_csv(saved)
    assert len(plot.chart.points) == 12


def test_a_stochastic_sampler_is_refused_in_one_sentence(window, engine, qtbot) -> None:
    samplers = child(window, "convergenceSamplers")
    qtbot.keyClicks(samplers, "DDIM, Euler a")
    window.run_curves()
    assert engine.jobs == []
    assert "'Euler a' adds noise while sampling" in window.banner.message()


def test_plot_tooltip_names_the_point_under_the_mouse(window, engine) -> None:
    window.run_curves()
    finish(window, engine)
    plot = window.convergence_panel.plot
    plot.resize(800, 500)
    plot.grab()
    position, point = plot.chart.placed[0]
    assert plot.chart.point_at(position) is point
    assert np.isfinite(point.psnr)


def test_analyse_menu_lists_the_new_actions(window) -> None:
    texts = [a.text() for a in window.study_actions.menu.actions()]
    assert "Run &grid" in texts and "Run convergence &curves" in texts
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles.index("&Analyse") == titles.index("&Help") - 1
    window.study_actions.tabs[2].trigger()
    assert window.current_page() is window.convergence_panel


def test_saved_csv_is_written_atomically(window, engine, tmp_path: Path) -> None:
    window.run_curves()
    finish(window, engine)
    path = window.session.convergence.save_csv(tmp_path / "out" / "c.csv")
    assert path.read_text().startswith("sampler,steps,nfe")
    assert not list(path.parent.glob(".*.tmp"))


def show_curves_tab(window: MainWindow) -> None:
    window.study_actions.tabs[2].trigger()


def test_the_default_curves_show_their_estimate_and_ask_first(
    window, engine, qtbot, monkeypatch
) -> None:
    show_curves_tab(window)
    runs = 2 * (1 + len(default_samplers()) * len(DEFAULT_STEPS))
    estimate = child(window, "convergenceEstimate")
    assert estimate.isVisible()
    assert estimate.text().startswith(f"Queues up to {runs} runs: 2 references of 1000 steps")
    asked: list[str] = []

    def cancel(parent, title, text, *args, **kwargs):
        asked.append(text)
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", cancel)
    qtbot.keyClick(
        window,
        Qt.Key.Key_G,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    qtbot.mouseClick(window.convergence_panel.run_button, Qt.MouseButton.LeftButton)
    assert engine.jobs == [] and len(asked) == 2
    assert f"up to {runs} runs" in asked[0] and " min (" in asked[0]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Ok)
    assert window.run_curves()
    (job,) = engine.jobs
    assert isinstance(job, ConvergeJob)


def test_a_short_run_is_queued_without_asking(window, engine, qtbot, long_runs_confirmed) -> None:
    show_curves_tab(window)
    qtbot.keyClicks(child(window, "convergenceSamplers"), "DDIM")
    steps = child(window, "convergenceSteps")
    steps.clear()
    qtbot.keyClicks(steps, "2, 4")
    child(window, "convergenceCases").setValue(1)
    child(window, "convergenceReferenceSteps").setValue(10)
    text = child(window, "convergenceEstimate").text()
    assert text.startswith("Queues 3 runs: 1 reference of 10 steps, then 1 sampler"), text
    assert "16 model evaluations" in text
    assert window.run_curves() and long_runs_confirmed == []


def test_the_estimate_uses_the_pace_of_the_teachers_last_run(window, engine) -> None:
    assert window.generate()
    finish(window, engine)
    show_curves_tab(window)
    estimate = window.session.convergence.estimate()
    assert estimate is not None and estimate.measured
    assert estimate.seconds_per_evaluation == pytest.approx(STEP_S)
    assert "measured on the teacher's last run" in child(window, "convergenceEstimate").text()


def test_the_student_lane_box_draws_the_student_beside_the_samplers(window, engine, qtbot) -> None:
    window.show_page(window.convergence_panel)
    qtbot.keyClicks(child(window, "convergenceSamplers"), "UniPC")
    box = child(window, "convergenceWithStudent")
    assert not box.isChecked() and not window.session.convergence.with_student
    box.click()
    assert window.session.convergence.with_student
    assert "1 student beside them" in child(window, "convergenceEstimate").text()
    window.run_curves()
    (job,) = engine.jobs
    (student,) = job.spec.students
    assert student.model.display_name == window.session.student_model
    window.session.convergence.with_student = False
    assert not box.isChecked(), "the box follows the view-model"
