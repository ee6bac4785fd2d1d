"""`studio grid --animate`: one grid row forming step by step, each cell on its own clock."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from studio.cli import main
from studio.cli.studies import preview_spacing
from tests.engine.tiny import save_tiny_emoji_pipeline


@pytest.fixture(scope="module")
def emoji_folder(tmp_path_factory) -> Path:
    return save_tiny_emoji_pipeline(tmp_path_factory.mktemp("grid-animate") / "tiny-emoji")


def grid_words(folder: Path, out: Path) -> list[str]:
    grid = ["grid", "--model", str(folder), "--x", "steps=1,3", "--y", "guidance=1,3"]
    return [*grid, "--width", "32", "--height", "32", "--quiet", "--out", str(out)]


def test_grid_animate_writes_one_row_forming_from_its_step_previews(emoji_folder, tmp_path, capsys):
    animation = tmp_path / "row.gif"
    words = grid_words(emoji_folder, tmp_path / "grid.png")
    assert main([*words, "--animate", str(animation), "--animate-row", "1"]) == 0
    text = capsys.readouterr().out
    pattern = r"\(row 1: 2 cells, (\d+) step previews taken every 1 step\(s\), (\d+) frames, "
    found = re.search(pattern, text)
    assert found, text
    previews, frames = int(found[1]), int(found[2])
    assert 1 <= previews <= 4  # steps 1 and 3; a preview the reader had not taken is skipped
    with Image.open(animation) as image:
        assert image.format == "GIF" and image.n_frames == frames
        assert frames >= 3  # none yet, a step shot, the slower cell's end


def test_grid_animate_refuses_a_missing_row_before_running(emoji_folder, tmp_path, capsys):
    words = grid_words(emoji_folder, tmp_path / "grid.png")
    assert main([*words, "--animate", str(tmp_path / "row.webp"), "--animate-row", "2"]) == 1
    assert "not a row of this grid: use 0 to 1" in capsys.readouterr().err
    assert not (tmp_path / "grid.png").exists()


def test_previews_are_spread_so_the_keeper_bound_holds() -> None:
    assert [preview_spacing(n, 120) for n in (1, 120, 121, 1000)] == [1, 1, 2, 9]
