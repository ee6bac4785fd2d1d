"""`studio grid` and `studio converge` end to end on a tiny saved emoji pipeline, offline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.cli import main
from studio.core.convergence import read_points_csv
from studio.core.metadata import parse_parameters
from studio.core.pngio import read_parameters
from tests.engine.tiny import save_tiny_emoji_pipeline


@pytest.fixture(scope="module")
def emoji_folder(tmp_path_factory) -> Path:
    return save_tiny_emoji_pipeline(tmp_path_factory.mktemp("study-cli") / "tiny-emoji")


def test_grid_writes_a_labelled_png_with_its_axes(emoji_folder, tmp_path, capsys) -> None:
    out = tmp_path / "grid.png"
    code = main(
        [
            "grid",
            "--model", str(emoji_folder),
            "--prompt", "grinning face",
            "--x", "sampler=DDIM trailing,Euler,Heun",
            "--y", "steps=1,2",
            "--guidance", "2",
            "--width", "32",
            "--height", "32",
            "--out", str(out),
            "--quiet",
        ]
    )  # fmt: skip
    assert code == 0
    picture = np.asarray(Image.open(out))
    assert picture.shape[0] > 2 * 144 and picture.shape[1] > 3 * 144
    parsed = parse_parameters(read_parameters(out) or "")
    assert parsed.extra["Grid X"] == "sampler=DDIM trailing,Euler,Heun"
    assert parsed.extra["Grid Y"] == "steps=1,2"
    assert parsed.params.prompt == "grinning face" and parsed.params.guidance_scale == 2
    printed = capsys.readouterr().out
    assert "Euler · 2 steps" in printed and "2 NFE" in printed
    assert "does not fit zero-terminal-SNR" in printed


def test_grid_refuses_a_bad_axis_in_one_sentence(emoji_folder, capsys) -> None:
    code = main(["grid", "--model", str(emoji_folder), "--x", "seed=1,2", "--quiet"])
    assert code == 2
    assert "Unknown grid axis 'seed'" in capsys.readouterr().err


def test_converge_writes_plots_and_csv(emoji_folder, tmp_path, capsys) -> None:
    code = main(
        [
            "converge",
            "--model", str(emoji_folder),
            "--samplers", "DDIM trailing,Euler",
            "--steps", "1,2",
            "--reference-steps", "6",
            "--seeds", "0,1",
            "--size", "32",
            "--out", str(tmp_path),
            "--stem", "tiny",
            "--quiet",
        ]
    )  # fmt: skip
    assert code == 0
    points = read_points_csv((tmp_path / "tiny.csv").read_text())
    assert [(p.sampler, p.steps, p.nfe) for p in points] == [
        ("DDIM trailing", 1, 1),
        ("DDIM trailing", 2, 2),
        ("Euler", 1, 1),
        ("Euler", 2, 2),
    ]
    assert all(p.cases == 2 and p.agreement is not None for p in points)
    for name in ("tiny.png", "tiny-agreement.png"):
        assert Image.open(tmp_path / name).size == (1000, 600)
    assert "fewest NFE to 25 dB" in capsys.readouterr().out


def test_converge_refuses_stochastic_samplers(emoji_folder, capsys) -> None:
    code = main(["converge", "--model", str(emoji_folder), "--samplers", "Euler a", "-q"])
    assert code == 2
    assert "adds noise while sampling" in capsys.readouterr().err


def test_grid_and_converge_never_load_qt(emoji_folder, tmp_path) -> None:
    """Headless commands draw their PNGs with Pillow: no Qt in the process, even for a plot."""
    code = (
        "import sys\n"
        "from studio.cli import main\n"
        "model, out = sys.argv[1], sys.argv[2]\n"
        "grid = ['grid', '-m', model, '--x', 'steps=1,2', '--width', '32', '--height', '32']\n"
        "assert main([*grid, '-o', out + '/g.png', '-q']) == 0\n"
        "converge = ['converge', '-m', model, '--samplers', 'Euler', '--steps', '1,2']\n"
        "converge += ['--reference-steps', '4', '--seeds', '0', '--size', '32', '-o', out]\n"
        "assert main([*converge, '-q']) == 0\n"
        "print('qt' if any(m.startswith('PySide6') for m in sys.modules) else 'no qt')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(emoji_folder), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "no qt"
    assert (tmp_path / "g.png").is_file() and (tmp_path / "curve.png").is_file()


def test_grid_out_may_name_a_folder_and_a_missing_folder_is_refused_before_any_work(
    emoji_folder, tmp_path, capsys
) -> None:
    grid = ["grid", "--model", str(emoji_folder), "--x", "steps=1,2", "--seed", "4", "--quiet"]
    grid += ["--width", "32", "--height", "32", "--sampler", "DDIM trailing"]
    assert main([*grid, "--out", str(tmp_path)]) == 0
    assert (tmp_path / "grid-4.png").is_file(), "a folder gets the default name inside it"
    assert f"wrote {tmp_path / 'grid-4.png'}" in capsys.readouterr().out
    missing = tmp_path / "nowhere" / "g.png"
    assert main([*grid, "--out", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"there is no folder {missing.parent} to write into" in err
    assert not missing.parent.exists()


def test_converge_draws_a_student_beside_the_samplers(emoji_folder, tmp_path, capsys) -> None:
    from studio.cli.studies import student_curve

    assert student_curve("emoji-shortcut").sampler == "DDIM trailing", "its own recipe"
    sid = student_curve("emoji-student-sid")
    assert (sid.sampler, sid.guidance) == ("DDIM trailing", 1.0), "from its manifest"
    picked = student_curve("emoji-student-sid@euler/2")
    assert (picked.sampler, picked.guidance) == ("Euler", 2.0)
    args = ["converge", "--model", str(emoji_folder), "--samplers", "Euler", "--steps", "1,2"]
    args += ["--reference-steps", "4", "--seeds", "0", "--size", "32", "--guidance", "2"]
    args += ["--out", str(tmp_path), "--stem", "beside", "-q"]
    assert main([*args, "--student", f"{emoji_folder}"]) == 2
    assert "names no recipe: write" in capsys.readouterr().err
    assert main([*args, "--student", f"{emoji_folder}@DDIM trailing/2"]) == 0
    points = read_points_csv((tmp_path / "beside.csv").read_text())
    assert [(p.series, p.steps) for p in points] == [
        ("Euler", 1),
        ("Euler", 2),
        (f"{emoji_folder.name} · DDIM trailing", 1),
        (f"{emoji_folder.name} · DDIM trailing", 2),
    ]
    assert points[-1].psnr > points[-2].psnr > 0
