"""ComparisonViewModel, QueueViewModel, SettingsViewModel and the observable helper."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from studio.core.events import CompareFinished
from studio.core.settings import Settings, Upscale, load_settings
from studio.viewmodels.comparison import ComparisonViewModel, format_summary
from studio.viewmodels.queue import QueueViewModel
from studio.viewmodels.settings import SettingsViewModel


@pytest.mark.parametrize(
    ("numbers", "text"),
    [
        ((12.34, 24.12, 0.8712), "Student 12.3x faster · PSNR 24.1 dB · SSIM 0.871"),
        ((2.0, math.inf, 1.0), "Student 2.0x faster · identical · SSIM 1.000"),
        ((0.5, math.nan, math.nan), "Student 2.0x slower"),
        ((math.inf, 30.0, 0.9), "Student took no measurable time · PSNR 30.0 dB · SSIM 0.900"),
    ],
)
def test_summary_text(numbers, text) -> None:
    assert format_summary(*numbers) == text


def test_comparison_updates_and_clears(qapp, qtbot) -> None:
    vm = ComparisonViewModel()
    assert not vm.available and vm.summary == ""
    with qtbot.waitSignal(vm.summaryChanged) as blocker:
        vm.update(CompareFinished(job_id="j", speedup=3.0, psnr=20.0, ssim=0.5))
    assert blocker.args == ["Student 3.0x faster · PSNR 20.0 dB · SSIM 0.500"] and vm.available
    vm.clear()
    assert vm.summary == "" and not vm.available


def test_queue_lifecycle_and_cancel(qapp, qtbot) -> None:
    cancelled: list[str] = []
    queue = QueueViewModel(cancelled.append)
    with qtbot.waitSignal(queue.countChanged) as blocker:
        queue.add("a", "Compare · seed 1")
    assert blocker.args == [1]
    queue.add("b", "Compare · seed 2")
    queue.add("c", "Compare · seed 3")
    queue.start("a")
    assert queue.running.job_id == "a" and [e.job_id for e in queue.pending] == ["b", "c"]
    queue.cancel("b")
    queue.cancel("a")
    queue.cancel("zzz")
    assert cancelled == ["b", "a"] and queue.job_ids() == ["a", "c"] and queue.count == 2
    queue.remove("a")
    assert queue.running is None and queue.count == 1
    queue.clear()
    assert queue.count == 0


def test_settings_load_notice_snapshot_and_save(session, tmp_path: Path, qtbot) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{ not json")
    vm = SettingsViewModel(path)
    vm.load()
    assert vm.notice is not None and "settings.corrupt-" in vm.notice
    session.prompt, session.seed, session.batch_count = "a tiny robot", 12, 3
    session.student.num_inference_steps = 2
    session.teacher.preview_kind = "xt"
    vm.upscale = "smooth"
    vm.snapshot_from(session)
    assert vm.save()
    loaded, notice = load_settings(path)
    assert notice is None and loaded == vm.settings
    assert (loaded.shared.prompt, loaded.shared.seed, loaded.batch_count) == ("a tiny robot", 12, 3)
    assert (loaded.student.num_inference_steps, loaded.preview_kind) == (2, "xt")
    assert loaded.upscale is Upscale.smooth


def test_settings_save_failure_and_gallery_dir(qapp, tmp_path: Path, qtbot) -> None:
    blocker_file = tmp_path / "file"
    blocker_file.write_text("x")
    vm = SettingsViewModel(blocker_file / "settings.json")
    assert vm.load() == Settings() and vm.notice is None
    with qtbot.waitSignal(vm.error) as blocker:
        assert not vm.save()
    assert blocker.args[0].startswith("Could not save the settings to")
    vm.output_dir = str(tmp_path / "out")
    assert vm.gallery_dir() == tmp_path / "out"


def test_signals_do_not_leak_references(qapp) -> None:
    queue = QueueViewModel(lambda job_id: None)
    before = sys.getrefcount(True)
    for index in range(2000):
        queue.add(str(index), "x")
        queue.remove(str(index))
    assert abs(sys.getrefcount(True) - before) < 50
