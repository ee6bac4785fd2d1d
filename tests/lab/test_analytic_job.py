"""`studio analytic` on a tiny emoji model: estimates once with a summary, then reads the cache."""

from __future__ import annotations

import pytest

from studio.cli import main
from studio.engine.analytic import tables
from studio.lab.analytic_job import TableReport, TaskBars, summary
from tests.engine.gaussian import exact_table
from tests.engine.tiny import save_tiny_emoji_pipeline, tiny_emoji_scheduler


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "default_cache_dir", lambda: tmp_path / "analytic")
    monkeypatch.setattr(tables, "default_emoji_dataset", lambda: tmp_path / "absent.npz")
    return tmp_path / "analytic"


def test_the_command_estimates_then_reuses_the_table(tmp_path, private_cache, capsys):
    folder = save_tiny_emoji_pipeline(tmp_path / "tiny-emoji")
    argv = ["analytic", "--model", str(folder), "--samples", "4", "--grid", "3", "--batch", "4"]
    assert main([*argv, "-q"]) == 0
    first = capsys.readouterr().out
    assert "model samples (DPM++ 2M, 25 steps, guidance 1), 4 samples, 3 timesteps" in first
    assert str(private_cache) in first
    files = list(private_cache.glob("gamma-*.npz"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    assert main([*argv, "-q"]) == 0
    assert files[0].stat().st_mtime_ns == stamp
    assert main([*argv, "-q", "--force"]) == 0
    assert files[0].stat().st_mtime_ns != stamp


def test_summary_lists_both_ends_of_the_table(tmp_path):
    table = exact_table(tiny_emoji_scheduler().alphas_cumprod, std=0.5)
    text = summary(TableReport(tmp_path / "t.npz", table, 1.5))
    lines = text.splitlines()
    assert lines[0].endswith("(1.5 s)")
    assert lines[3].split()[0] == "0" and lines[-1].split()[0] == "999"
    assert lines[-1].split()[-1] == "0.25000"


def test_task_bars_follow_each_task(capsys):
    bars = TaskBars(enabled=True)
    for done in (1, 2, 3):
        bars("sampling", done, 3)
    bars("estimating", 1, 2)
    assert bars.bars["sampling"].n == 3 and bars.bars["estimating"].n == 1
    bars.close()
    quiet = TaskBars(enabled=False)
    quiet("sampling", 1, 3)
    assert quiet.bars == {}
