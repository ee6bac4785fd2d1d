"""Every printing command ends quietly when the reader of its stdout has gone (`| head`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from studio.cli import CLOSED_STDOUT
from studio.core.metadata import format_parameters
from studio.core.params import GenerationParams
from studio.core.pngio import write_png

ROOT = Path(__file__).resolve().parents[2]


def run_into_closed_pipe(*words: str) -> subprocess.CompletedProcess[str]:
    """`python -m studio WORDS` with its stdout a pipe whose reading end is already closed."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "studio", *words],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=os.environ | {"OMP_NUM_THREADS": "1"},
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)


@pytest.fixture
def png_with_params(tmp_path) -> Path:
    params = GenerationParams(prompt="a cat on a mat", seed=3)
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    return write_png(tmp_path / "x.png", image, format_parameters(params, model="m"))


@pytest.mark.parametrize("words", [("params", "PNG"), ("samplers",)])
def test_a_closed_stdout_ends_the_command_without_a_traceback(words, png_with_params):
    done = run_into_closed_pipe(*(str(png_with_params) if w == "PNG" else w for w in words))
    assert done.returncode == CLOSED_STDOUT
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_an_open_stdout_still_gets_everything(png_with_params):
    done = subprocess.run(
        [sys.executable, "-m", "studio", "params", str(png_with_params)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and '"a cat on a mat"' in done.stdout
