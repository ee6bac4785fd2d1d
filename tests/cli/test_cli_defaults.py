"""The CLI's default image size follows the model's family, and its timings show the load."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.cli import main
from studio.cli.args import default_size, model_ref, timings_text
from studio.core.events import Timings
from studio.core.models import ModelRef
from tests.core.test_native_size import folder
from tests.engine.tiny import save_tiny_sd_pipeline


def sized_folder(root: Path, sample_size: int) -> Path:
    """An SD folder's configs (no weights): side `sample_size` * 8."""
    return folder(root, sample_size, 4, "StableDiffusionPipeline")


def size_args(width: int | None = None, height: int | None = None) -> argparse.Namespace:
    return argparse.Namespace(width=width, height=height)


@pytest.mark.parametrize(("sample_size", "side"), [(64, 512), (96, 768), (128, 1024)])
def test_the_default_size_is_the_models_family_size(tmp_path, sample_size, side):
    args = size_args()
    default_size(args, [model_ref(str(sized_folder(tmp_path / "m", sample_size)))])
    assert (args.width, args.height) == (side, side)


def test_an_explicit_size_always_wins(tmp_path):
    ref = model_ref(str(sized_folder(tmp_path / "xl", 128)))
    both, width_only = size_args(640, 384), size_args(width=768)
    default_size(both, [ref])
    default_size(width_only, [ref])
    assert (both.width, both.height) == (640, 384)
    assert (width_only.width, width_only.height) == (768, 1024)


def test_the_embedded_models_keep_32_and_a_comparison_takes_the_larger(tmp_path):
    embedded, args = ModelRef.embedded("emoji-teacher"), size_args()
    default_size(args, [embedded])
    assert (args.width, args.height) == (32, 32)
    both = size_args()
    default_size(both, [embedded, model_ref(str(sized_folder(tmp_path / "xl", 128)))])
    assert (both.width, both.height) == (1024, 1024)


def test_the_timings_line_adds_the_load_to_the_generation():
    t = Timings(load_s=9.8, encode_s=0.12, step_s=(5.0, 5.31), decode_s=0.47, total_s=10.9)
    assert timings_text(t) == (
        "load 9.80 s + generation 10.90 s (encode 0.12 s, denoise 10.31 s, decode 0.47 s) = 20.70 s"
    )
    assert timings_text(Timings(total_s=1.0)).startswith("load 0 s (cached) + generation 1.00 s")


def test_generate_prints_load_and_generation_and_uses_the_models_size(tmp_path, capsys):
    folder = save_tiny_sd_pipeline(tmp_path / "tiny-sd")  # UNet sample size 16, VAE scale 2
    out = tmp_path / "out.png"
    assert main(["generate", "-m", str(folder), "--steps", "2", "-o", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert np.asarray(Image.open(out)).shape == (32, 32, 3)
    timing = text.splitlines()[-1]
    load = float(timing.split("load ")[1].split(" s")[0])
    generation = float(timing.split("generation ")[1].split(" s")[0])
    total = float(timing.rsplit("= ", 1)[1].split(" s")[0])
    assert load > 0 and generation > 0
    assert total == pytest.approx(load + generation, abs=0.011)
