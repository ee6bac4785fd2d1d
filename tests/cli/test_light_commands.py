"""The CLI's light commands (help, the sampler list, a PNG's parameters) never import torch:
they answer at Python's start-up speed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from studio.core.metadata import format_parameters
from studio.core.params import GenerationParams
from studio.core.pngio import write_png

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import sys\n"
    "from studio.cli import main\n"
    "try:\n"
    "    code = main(sys.argv[1:])\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules)\n"
    "print('HEAVY', ','.join(heavy), file=sys.stderr)\n"
    "raise SystemExit(code)\n"
)


def heavy_modules(*words: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *words],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (line,) = [row for row in result.stderr.splitlines() if row.startswith("HEAVY")]
    return line.removeprefix("HEAVY").strip()


@pytest.mark.parametrize(
    "words",
    [
        ("--help",),
        ("generate", "--help"),
        ("compare", "--help"),
        ("distill", "--help"),
        ("samplers",),
    ],
    ids=lambda words: " ".join(words),
)
def test_a_light_command_imports_no_torch(words: tuple[str, ...]) -> None:
    assert heavy_modules(*words) == ""


def test_reading_a_pngs_parameters_imports_no_torch(tmp_path: Path) -> None:
    png = write_png(
        tmp_path / "image.png",
        np.zeros((8, 8, 3), dtype=np.uint8),
        format_parameters(GenerationParams(prompt="grinning face"), model="emoji-teacher"),
    )
    assert heavy_modules("params", str(png)) == ""


def test_the_probe_sees_a_command_that_does_import_torch() -> None:
    """The checks above can fail: the probe reports torch once something imports it."""
    probe = PROBE.replace("    code = main(sys.argv[1:])", "    import torch\n    code = 0")
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert "HEAVY torch" in result.stderr
