"""`studio compare --animate`: the comparison forming step by step as an animated WebP or GIF, or
an MP4."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from PIL import Image

from studio.cli import main
from studio.core import video
from tests.cli.compare_words import compare_words
from tests.engine.tiny import save_tiny_emoji_pipeline


@pytest.fixture(scope="module")
def emoji_folder(tmp_path_factory) -> Path:
    return save_tiny_emoji_pipeline(tmp_path_factory.mktemp("animate") / "tiny-emoji")


def compare_args(folder: Path, out: Path, animate: Path) -> list[str]:
    return compare_words(folder, out, "--animate", str(animate))


def test_compare_animate_writes_a_webp_of_both_lanes_forming(emoji_folder, tmp_path, capsys):
    animation = tmp_path / "cmp.webp"
    assert main(compare_args(emoji_folder, tmp_path / "cmp.png", animation)) == 0
    text = capsys.readouterr().out
    found = re.search(rf"wrote {re.escape(str(animation))} \((\d+) frames, ([\d.]+) s\)", text)
    assert found, text
    frames, seconds = int(found[1]), float(found[2])
    with Image.open(animation) as image:
        assert image.format == "WEBP" and image.n_frames == frames
        assert image.size[0] > image.size[1]  # two panes side by side over their captions
        durations = []
        for index in range(image.n_frames):
            image.seek(index)
            image.load()
            durations.append(image.info["duration"])
    # At least a blank start, a step of each lane and the held end; 4 s of run + 1.5 s held.
    assert frames >= 3 and sum(durations) == 5500 and seconds == 5.5
    assert (tmp_path / "cmp.png").is_file()


def test_the_animate_help_offers_mp4(capsys) -> None:
    for command in ("compare", "grid"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--animate OUT.webp|OUT.gif|OUT.mp4" in capsys.readouterr().out


def test_compare_animate_refuses_another_format_before_running(emoji_folder, tmp_path, capsys):
    code = main(compare_args(emoji_folder, tmp_path / "cmp.png", tmp_path / "cmp.avi"))
    assert code == 1
    err = capsys.readouterr().err
    assert "must end in .webp, .gif or .mp4" in err and err.count("\n") == 1
    assert not (tmp_path / "cmp.png").exists()


def test_compare_animate_refuses_mp4_without_pyav_before_running(
    emoji_folder, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(video, "video_available", lambda: False)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    code = main(compare_args(emoji_folder, tmp_path / "cmp.png", tmp_path / "cmp.mp4"))
    assert code == 1
    err = capsys.readouterr().err
    assert err == f"studio: {video.LEFT_OUT_OF_THE_BUNDLE}\n"
    assert "GPL-licensed x264 and x265" in err and "install Studio with pip" in err
    assert not list(tmp_path.iterdir())
