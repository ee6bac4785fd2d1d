"""The window fits common screens: first-run size, minimum size, and what must stay visible."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QRect, QSize

from studio.ui.window_fit import DEFAULT_SIZE, FRAME_ALLOWANCE, first_geometry, fits

REPO = Path(__file__).resolve().parents[2]


def probe(tmp_path: Path, width: int, height: int) -> dict:
    screen = {"name": "probe", "x": 0, "y": 0, "width": width, "height": height}
    screen |= {"logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}
    config = tmp_path / "screen.json"
    config.write_text(json.dumps({"screens": [screen]}))
    env = dict(os.environ, QT_QPA_PLATFORM=f"offscreen:configfile={config}", HOME=str(tmp_path))
    env["XDG_CONFIG_HOME"] = env["XDG_DATA_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "tests.ui.screen_fit_probe"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("width", "height"),
    [(1366, 768), (1366, 728), (1440, 900), (1920, 1080)],
    ids=["1366x768", "1366x768-taskbar", "1440x900", "1920x1080"],
)
def test_the_first_window_fits_the_screen_with_everything_reachable(
    tmp_path: Path, width: int, height: int
) -> None:
    report = probe(tmp_path, width, height)
    assert report["frame_inside"], report
    assert report["minimum"][0] <= width and report["minimum"][1] <= height - 40, report
    for part in ("generate", "status_bar", "queue", "history", "welcome_generate"):
        assert report[part], f"{part} is not fully on screen at {width}x{height}: {report}"


def test_first_geometry_is_the_default_size_where_it_fits_and_centred() -> None:
    big = QRect(0, 0, 2560, 1440)
    rect = first_geometry(big)
    assert rect.size() == DEFAULT_SIZE and big.contains(rect)
    assert abs(rect.center().x() - big.center().x()) <= 1


def test_first_geometry_shrinks_to_the_available_area_leaving_room_for_the_frame() -> None:
    available = QRect(0, 0, 1366, 728)
    rect = first_geometry(available)
    assert rect.width() <= 1366 - FRAME_ALLOWANCE.width()
    assert rect.height() <= 728 - FRAME_ALLOWANCE.height()
    assert rect.top() >= FRAME_ALLOWANCE.height() - 8 and available.contains(rect)
    shifted = first_geometry(QRect(1920, 0, 1366, 768))
    assert QRect(1920, 0, 1366, 768).contains(shifted)


def test_a_restored_geometry_off_the_screen_does_not_fit() -> None:
    available = QRect(0, 0, 1366, 768)
    assert fits(QRect(10, 40, 1200, 700), available)
    assert not fits(QRect(1500, 40, 1200, 700), available)
    assert not fits(QRect(0, 0, 1400, 900), available)
    assert first_geometry(available, QSize(800, 600)).size() == QSize(800, 600)
