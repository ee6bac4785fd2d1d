"""`studio` starts its engine process before the window's imports, with the saved engine
settings, read without touching the settings file."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from studio.core.engine_options import EngineOptions
from studio.core.settings import Settings, peek_settings, save_settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_engine_process_starts_before_qt_or_torch_is_imported(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from studio.cli.window import early_engine\n"
        "engine = early_engine()\n"
        "loaded = [m for m in ('PySide6', 'torch', 'studio.app') if m in sys.modules]\n"
        "print('LOADED', loaded, 'ALIVE', engine.alive)\n"
        "engine.close()\n"
    )
    env = os.environ | {"XDG_CONFIG_HOME": str(tmp_path), "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "LOADED [] ALIVE True" in result.stdout


def test_peeking_reads_the_saved_engine_settings(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    options = EngineOptions(max_models=1, ram_budget_mb=2048)
    save_settings(path, replace(Settings(), engine=options))
    assert peek_settings(path).engine == options


def test_peeking_leaves_a_corrupt_file_for_the_window_to_report(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("[not settings", encoding="utf-8")
    assert peek_settings(path) == Settings()
    assert path.read_text(encoding="utf-8") == "[not settings"
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]
    assert peek_settings(tmp_path / "missing.json") == Settings()
