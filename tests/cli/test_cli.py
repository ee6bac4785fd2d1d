"""The `studio` command end to end on a tiny saved pipeline, offline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.cli import main
from studio.cli.args import model_ref
from studio.core.models import ModelSource
from studio.core.pngio import read_image, read_parameters
from tests.cli.compare_words import compare_words
from tests.engine.tiny import save_tiny_emoji_pipeline, save_tiny_sd_pipeline


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory) -> Path:
    return save_tiny_sd_pipeline(tmp_path_factory.mktemp("cli") / "tiny-sd")


def test_generate_writes_png_and_params_reads_it_back(sd_folder, tmp_path, capsys):
    out = tmp_path / "out.png"
    code = main(
        [
            "generate",
            "--model",
            str(sd_folder),
            "--prompt",
            "a cat, sitting: on a mat",
            "--negative",
            "blurry",
            "--steps",
            "3",
            "--sampler",
            "Euler a",
            "--guidance",
            "4.5",
            "--seed",
            "1234",
            "--width",
            "64",
            "--height",
            "64",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    image = np.asarray(Image.open(out))
    assert image.shape == (64, 64, 3)
    capsys.readouterr()
    assert main(["params", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["prompt"] == "a cat, sitting: on a mat"
    assert data["negative_prompt"] == "blurry"
    assert (data["seed"], data["num_inference_steps"], data["sampler"]) == (1234, 3, "Euler a")
    assert data["guidance_scale"] == 4.5
    assert (data["width"], data["height"]) == (64, 64)
    assert data["model"] == "tiny-sd"


def test_compare_writes_side_by_side_and_reports(tmp_path, capsys):
    folder = save_tiny_emoji_pipeline(tmp_path / "tiny-emoji")
    out = tmp_path / "cmp.png"
    code = main(compare_words(folder, out))
    assert code == 0
    text = capsys.readouterr().out
    assert "speed-up" in text and "PSNR" in text and "SSIM" in text
    assert Image.open(out).size[0] > Image.open(out).size[1]


def test_compare_through_the_engine_process_is_pixel_identical(tmp_path, capsys):
    folder = save_tiny_emoji_pipeline(tmp_path / "tiny-emoji")
    common = ["compare", "--teacher", str(folder), "--student", str(folder), "--quiet"]
    common += ["--teacher-steps", "4", "--student-steps", "2", "--width", "32", "--height", "32"]
    here, there = tmp_path / "thread.png", tmp_path / "process.png"
    assert main([*common, "--out", str(here)]) == 0
    assert main([*common, "--engine", "process", "--out", str(there)]) == 0
    assert np.array_equal(read_image(here), read_image(there))
    assert read_parameters(here) == read_parameters(there)


def test_samplers_lists_at_least_twenty(capsys):
    assert main(["samplers"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) >= 20
    assert any(line.startswith("DPM++ 2M Karras") for line in lines)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--width", "30"], "not a multiple of 8"),
        (["--steps", "0"], "number of steps"),
        (["--seed", "-1"], "seed"),
        (["--guidance", "-2"], "negative"),
        (["--sampler", "Nope"], "Unknown sampler"),
    ],
)
def test_bad_values_are_one_clear_sentence(sd_folder, args, message, capsys):
    code = main(["generate", "--model", str(sd_folder), "--quiet", *args])
    assert code == 2
    assert message in capsys.readouterr().err


def test_misfit_sampler_is_a_clear_failure(tmp_path, capsys):
    folder = save_tiny_emoji_pipeline(tmp_path / "tiny-emoji")
    code = main(
        [
            "generate",
            "--model",
            str(folder),
            "--sampler",
            "Flow Euler",
            "--quiet",
            "--out",
            str(tmp_path / "x.png"),
        ]
    )
    assert code == 1
    assert "flow-matching" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_params_on_a_file_without_parameters(tmp_path, capsys):
    path = tmp_path / "plain.png"
    Image.new("RGB", (4, 4)).save(path)
    assert main(["params", str(path)]) == 1
    assert "no generation parameters" in capsys.readouterr().err


def test_model_argument_forms(tmp_path):
    assert model_ref("emoji-teacher").source is ModelSource.embedded
    assert model_ref("org/name").source is ModelSource.hub
    assert model_ref(str(tmp_path)).source is ModelSource.folder
    with pytest.raises(SystemExit):
        model_ref("./missing/folder")


def test_compare_without_a_student_uses_the_teacher_and_says_so(tmp_path, monkeypatch, capsys):
    import argparse

    from studio.cli.generate import default_student
    from studio.core import paths
    from studio.core.models import EMBEDDED_STUDENT

    monkeypatch.setattr(paths, "CHECKOUT_ROOT", tmp_path)
    monkeypatch.setattr(paths, "PACKAGED_ROOT", tmp_path / "none")
    args = argparse.Namespace(student=None, teacher="my-teacher")
    assert default_student(args) == "my-teacher"
    assert f"{EMBEDDED_STUDENT} is not installed" in capsys.readouterr().err
    student = tmp_path / "assets" / "models" / EMBEDDED_STUDENT
    student.mkdir(parents=True)
    (student / "studio_adapter.json").write_text("{}")
    assert default_student(args) == EMBEDDED_STUDENT
    assert default_student(argparse.Namespace(student="x", teacher="t")) == "x"


def test_classifier_guidance_off_for_a_prompt_without_an_emoji_says_so(tmp_path, capsys):
    folder = save_tiny_emoji_pipeline(tmp_path / "tiny-emoji")
    out = tmp_path / "out.png"
    args = ["generate", "--model", str(folder), "--prompt", "a castle at dusk", "--steps", "2"]
    code = main([*args, "--classifier-scale", "2", "--out", str(out)])
    assert code == 0 and out.is_file()
    assert "Classifier guidance is off for 'a castle at dusk'" in capsys.readouterr().err


def test_generate_writes_into_a_folder_named_by_out(sd_folder, tmp_path, capsys):
    generate = ["generate", "--model", str(sd_folder), "--steps", "2", "--seed", "3", "--quiet"]
    assert main([*generate, "--out", str(tmp_path)]) == 0
    assert (tmp_path / "studio-3.png").is_file()
    assert main([*generate, "--out", str(tmp_path / "no" / "x.png")]) == 2
    assert "there is no folder" in capsys.readouterr().err
