"""`studio generate` / `studio compare` Skip-Tuning flags, end to end on a tiny saved model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.cli import build_parser, main
from studio.cli.args import lane_params
from studio.core.pngio import read_parameters
from studio.core.skip_tuning import SkipTuning
from tests.engine.tiny import save_tiny_emoji_pipeline


@pytest.fixture(scope="module")
def emoji_folder(tmp_path_factory) -> Path:
    return save_tiny_emoji_pipeline(tmp_path_factory.mktemp("cli-skip") / "tiny-emoji")


def generate(folder: Path, out: Path, *extra: str) -> int:
    args = ["generate", "--model", str(folder), "--steps", "3", "--sampler", "DDIM trailing"]
    args += ["--seed", "3", "--width", "32", "--height", "32", "--out", str(out), "--quiet"]
    return main([*args, *extra])


def test_flags_default_to_off_and_reach_the_params() -> None:
    parser = build_parser()
    assert lane_params(parser.parse_args(["generate"])).skip_tuning == SkipTuning()
    args = parser.parse_args(["generate", "--skip-top", "1.05", "--skip-bottom", "0.9"])
    assert lane_params(args).skip_tuning == SkipTuning(rho_top=1.05, rho_bottom=0.9)


def test_compare_has_flags_per_lane() -> None:
    args = build_parser().parse_args(["compare", "--student-skip-bottom", "0.85"])
    assert lane_params(args, "teacher").skip_tuning == SkipTuning()
    assert lane_params(args, "student").skip_tuning == SkipTuning(rho_bottom=0.85)
    args = build_parser().parse_args(["compare", "--teacher-skip-top", "0.95"])
    assert lane_params(args, "teacher").skip_tuning == SkipTuning(rho_top=0.95)


def test_generate_applies_and_records_skip_tuning(emoji_folder, tmp_path, capsys) -> None:
    plain, tuned = tmp_path / "plain.png", tmp_path / "tuned.png"
    assert generate(emoji_folder, plain) == 0
    assert generate(emoji_folder, tuned, "--skip-bottom", "0.8") == 0
    assert not np.array_equal(np.asarray(Image.open(plain)), np.asarray(Image.open(tuned)))
    assert "Skip-Tuning" not in (read_parameters(plain) or "")
    assert (read_parameters(tuned) or "").endswith("Skip-Tuning: 1.0/0.8")
    capsys.readouterr()
    assert main(["params", str(tuned)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["skip_tuning"] == {"rho_top": 1.0, "rho_bottom": 0.8}


def test_compare_records_the_student_skip_tuning(emoji_folder, tmp_path) -> None:
    out = tmp_path / "cmp.png"
    args = ["compare", "--teacher", str(emoji_folder), "--student", str(emoji_folder)]
    args += ["--teacher-steps", "3", "--student-steps", "2", "--student-skip-bottom", "0.9"]
    assert main([*args, "--width", "32", "--height", "32", "--out", str(out), "--quiet"]) == 0
    text = read_parameters(out) or ""
    assert "Skip-Tuning 1.0/0.9" in text and "Skip-Tuning: " not in text


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--skip-bottom", "3"], "The Skip-Tuning bottom factor 3 is out of range: use 0.5 to 1.5"),
        (["--skip-top", "nan"], "The Skip-Tuning top factor nan is not a finite number."),
    ],
)
def test_bad_factors_are_one_clear_sentence(emoji_folder, tmp_path, flags, message, capsys):
    assert generate(emoji_folder, tmp_path / "x.png", *flags) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
