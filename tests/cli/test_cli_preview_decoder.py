"""`studio compare --animate --preview-decoder`: the animation's frames decoded by a tiny VAE
(random weights) named with --tiny-vae, and the linear fallback said in one line when missing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderTiny
from huggingface_hub import constants

from studio.cli import build_parser, main
from studio.cli.generate import preview_options
from studio.core.jobs import PreviewDecoder
from tests.cli.compare_words import compare_words
from tests.engine.tiny import save_tiny_sd_pipeline


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory) -> Path:
    return save_tiny_sd_pipeline(tmp_path_factory.mktemp("cli-pd") / "tiny-sd")


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli-tiny-vaes")
    torch.manual_seed(0)
    AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
    ).save_pretrained(root / "taesd", safe_serialization=True)
    return root


def args(folder: Path, tmp: Path, *extra: str) -> list[str]:
    return compare_words(
        folder, tmp / "c.png", "--animate", str(tmp / "c.gif"), *extra, teacher_steps=3
    )


def test_the_options_make_the_preview_options(tmp_path):
    parsed = build_parser().parse_args(
        ["compare", "--animate", "a.gif", "--preview-decoder", "tiny", "--tiny-vae", "/v"]
    )
    options = preview_options(parsed)
    assert options.decoder is PreviewDecoder.tiny and options.tiny_vae_dir == "/v"
    assert options.every == 1 and options.download_tiny is False
    plain = preview_options(build_parser().parse_args(["compare"]))
    assert plain.decoder is PreviewDecoder.linear and plain.every == 0
    with pytest.raises(SystemExit):
        build_parser().parse_args(["compare", "--preview-decoder", "taesd"])


def test_a_named_tiny_vae_decodes_the_frames(sd_folder, tiny_root, tmp_path, capsys):
    code = main(
        args(sd_folder, tmp_path, "--preview-decoder", "tiny", "--tiny-vae", str(tiny_root))
    )
    assert code == 0 and (tmp_path / "c.gif").is_file()
    assert "Tiny-VAE" not in capsys.readouterr().err


def test_a_missing_tiny_vae_falls_back_in_one_line(sd_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    code = main(args(sd_folder, tmp_path, "--preview-decoder", "tiny"))
    assert code == 0 and (tmp_path / "c.gif").is_file()
    lines = [line for line in capsys.readouterr().err.splitlines() if "Tiny-VAE" in line]
    assert lines and all("madebyollin/taesd" in line and "linear map" in line for line in lines)
