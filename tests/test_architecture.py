"""The package arrows (import-linter contracts), the code style (ruff) and the types (mypy) hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(tool: str, *args: str) -> subprocess.CompletedProcess:
    exe = BIN / tool
    if not exe.exists():
        pytest.skip(f"{tool} is not installed in this environment")
    return subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_import_contracts_are_kept():
    result = run("lint-imports")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and "0 broken" in result.stdout


def test_ruff_lint_is_clean():
    result = run("ruff", "check", "studio", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean():
    """pyproject's [tool.mypy] over the studio package; with .mypy_cache a rerun takes ~1 s."""
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ui_side_never_imports_torch_at_startup():
    code = (
        "import sys, studio.worker.host, studio.core.jobs, studio.cli, studio.app, "
        "studio.ui.main_window; "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "False", result.stderr
