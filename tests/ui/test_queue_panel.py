"""The queue panel: one rebuild per turn of the event loop, and the selection kept."""

from __future__ import annotations

from studio.ui.queue_panel import QueuePanel
from studio.viewmodels.queue import QueueViewModel


def make_panel(qtbot, count: int) -> tuple[QueuePanel, QueueViewModel, list[str]]:
    cancelled: list[str] = []
    queue = QueueViewModel(cancelled.append)
    panel = QueuePanel(queue)
    qtbot.addWidget(panel)
    for index in range(count):
        queue.add(f"job-{index}", f"Generate · seed {index}")
    return panel, queue, cancelled


def test_a_burst_of_jobs_is_listed_once_the_loop_turns(qtbot) -> None:
    panel, queue, _ = make_panel(qtbot, 300)
    assert panel.list.count() == 0
    qtbot.waitUntil(lambda: panel.list.count() == 300, timeout=2000)
    assert panel.title.text() == "Queue · 300 waiting"
    queue.start("job-0")
    for index in range(1, 100):
        queue.remove(f"job-{index}")
    qtbot.waitUntil(lambda: panel.list.count() == 201, timeout=2000)
    assert panel.list.item(0).text().startswith("▶ Generate · seed 0")


def test_the_selected_job_stays_selected_and_remove_cancels_it(qtbot) -> None:
    panel, queue, cancelled = make_panel(qtbot, 5)
    qtbot.waitUntil(lambda: panel.list.count() == 5, timeout=2000)
    panel.list.setCurrentRow(3)
    queue.start("job-0")
    queue.add("job-5", "Generate · seed 5")
    qtbot.waitUntil(lambda: panel.list.count() == 6 and queue.running is not None, timeout=2000)
    qtbot.wait(10)
    assert panel.selected_job_id() == "job-3"
    panel.remove_selected()
    assert cancelled == ["job-3"]
    qtbot.waitUntil(lambda: panel.list.count() == 5, timeout=2000)
    assert panel.selected_job_id() == ""
    assert not panel.remove_button.isEnabled()
