"""A hub model downloading before its lane runs: shown as the lane's preparation, cancellable."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from studio.core.commands import Cancel
from studio.core.events import DownloadProgress, JobStarted, StepProgress
from studio.core.jobs import Lane
from studio.core.models import ModelRef, ModelSource
from studio.core.settings import Settings
from studio.core.units import download_status, human_size
from studio.viewmodels.lane import LaneViewModel
from tests.ui.test_main_window import child, make_window
from tests.ui.test_preparation import handle_until
from tests.viewmodels.fake_engine import FakeEngine

HUB = ModelRef(location="org/sdxl-base", source=ModelSource.hub)


def download(job_id: str, done: int, files: int = 3, lane: Lane = Lane.teacher) -> DownloadProgress:
    return DownloadProgress(
        job_id=job_id,
        lane=lane,
        model=HUB,
        bytes_done=done,
        bytes_total=4_100_000_000,
        files_done=files,
        files_total=12,
    )


def test_sizes_and_download_lines_read_well():
    assert [human_size(n) for n in (0, 999, 1000, 1_234_567, 6_938_000_000)] == [
        "0 bytes",
        "999 bytes",
        "1.0 KB",
        "1.2 MB",
        "6.9 GB",
    ]
    assert download_status(download("j", 1_200_000_000)) == (
        "Downloading sdxl-base: 1.2 GB of 4.1 GB, 3/12 files"
    )
    unknown = DownloadProgress(
        job_id="j", lane=None, model=HUB, bytes_done=5, bytes_total=0, files_done=0, files_total=0
    )
    assert download_status(unknown) == "Downloading sdxl-base: 5 bytes"


def test_the_lane_shows_the_download_as_its_preparation(qapp, qtbot):
    lane = LaneViewModel(Lane.teacher, Settings().teacher)
    lane.on_download(download("j", 1), Lane.teacher)
    assert lane.preparation is None, "ignored while not running"
    lane.begin("j", 4)
    with qtbot.waitSignal(lane.preparationChanged):
        lane.on_download(download("j", 2_060_000_000, files=6), Lane.teacher)
    assert lane.status == "Downloading sdxl-base: 2.1 GB of 4.1 GB, 6/12 files"
    assert lane.preparing and (lane.preparation.done, lane.preparation.total) == (2060, 4100)


def test_the_window_shows_the_download_and_escape_cancels_it(tmp_path: Path, qtbot):
    engine = FakeEngine()
    window = make_window(tmp_path, engine, qtbot)
    (job_id,) = window.generate()
    session, progress = window.session, window.preview.progress["teacher"]
    rest = handle_until(session, engine.events(), lambda e: isinstance(e, JobStarted))
    session.handle(download(job_id, 1_000_000_000))
    assert progress.preparing() and progress.text() == "preparing 1000/4100"
    assert "1.0 GB of 4.1 GB" in progress.status_label.toolTip()
    caption = window.comparison.teacher_view.caption()
    assert caption.endswith(" · Downloading sdxl-base: 1.0 GB of 4.1 GB, 3/12 files")
    qtbot.keyClick(child(window, "promptEdit"), Qt.Key.Key_Escape)
    assert Cancel(job_id=job_id, keep_partial=False) in engine.sent
    handle_until(session, rest)
    assert not session.busy and progress.state() == "cancelled"
    assert not any(isinstance(e, StepProgress) for e in engine.events())
