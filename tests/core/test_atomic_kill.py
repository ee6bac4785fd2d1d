"""Killing the app mid-write leaves no corrupt file: SIGKILL a process that is saving settings
or gallery images, at fixed points of the write and at random moments, then check the target
holds the old or the new complete content. A control case writing in place shows the check
catches the corruption an unsafe write leaves."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from studio.core.gallery import GalleryStore
from studio.core.pngio import read_parameters
from studio.core.settings import load_settings, save_settings, settings_to_json
from tests.core.atomic_child import variants

REPO = Path(__file__).resolve().parents[2]
MARK_TIMEOUT_S = float(os.environ.get("STUDIO_KILL_TIMEOUT_S", "300"))
RANDOM_KILLS = int(os.environ.get("STUDIO_RANDOM_KILLS", "3"))


def spawn(mode: str, target: Path, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.core.atomic_child", mode, str(target), *flags],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def kill_at(child: subprocess.Popen[str], mark: str, number: int = 2, delay: float = 0) -> None:
    """SIGKILL `child` `delay` seconds after it prints `mark number` (with --slow its write is
    then paused there)."""
    assert child.stdout is not None
    deadline = time.monotonic() + MARK_TIMEOUT_S
    try:
        for line in child.stdout:
            if line.split() == [mark, str(number)]:
                time.sleep(delay)
                return
            assert time.monotonic() < deadline, f"no '{mark} {number}' in time"
        pytest.fail(f"the writer ended before '{mark} {number}'")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()


def settings_files() -> list[bytes]:
    return [
        (json.dumps(settings_to_json(s), indent=2, ensure_ascii=False) + "\n").encode()
        for s in variants()
    ]


def assert_whole_settings(path: Path) -> bytes:
    content = path.read_bytes()
    assert content in settings_files(), f"a torn settings file of {len(content)} bytes"
    settings, notice = load_settings(path)
    assert notice is None and settings in variants()
    return content


def assert_whole_gallery(folder: Path) -> list[Path]:
    """Every PNG the gallery lists decodes completely and carries its parameters."""
    listed = [item.path for item in GalleryStore(folder).items()]
    for path in listed:
        with Image.open(path) as picture:
            picture.load()
        assert read_parameters(path)
    visible = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    assert sorted(listed) == visible
    return listed


@pytest.mark.parametrize(("mark", "expected"), [("partial", 0), ("synced", 0), ("replaced", 1)])
def test_settings_killed_at_each_phase_are_old_or_new(tmp_path: Path, mark: str, expected: int):
    """Write 1 saves the second variant; write 2 (killed) would save the first one."""
    path = tmp_path / "settings.json"
    kill_at(spawn("settings", path, "--slow"), mark)
    files = settings_files()
    after_second_write = files[0]
    before_second_write = files[1]
    wanted = before_second_write if expected == 0 else after_second_write
    assert assert_whole_settings(path) == wanted


def test_the_control_in_place_write_is_caught_torn(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    save_settings(path, variants()[0])
    kill_at(spawn("settings", path, "--naive"), "partial", 1)
    assert path.read_bytes() not in settings_files()
    _, notice = load_settings(path)
    assert notice is not None and "defaults are used" in notice


def test_settings_killed_at_random_moments_are_old_or_new(tmp_path: Path) -> None:
    rng = random.Random(7)
    path = tmp_path / "settings.json"
    for _ in range(RANDOM_KILLS):
        child = spawn("settings", path)
        kill_at(child, "begin", rng.randint(2, 40), delay=rng.random() * 0.01)
        assert_whole_settings(path)


@pytest.mark.parametrize("mark", ["partial", "synced", "replaced"])
def test_gallery_killed_at_each_phase_keeps_whole_images(tmp_path: Path, mark: str) -> None:
    folder = tmp_path / "gallery"
    kill_at(spawn("gallery", folder, "--slow"), mark)
    listed = assert_whole_gallery(folder)
    assert len(listed) == (2 if mark == "replaced" else 1)


def test_gallery_killed_at_random_moments_keeps_whole_images(tmp_path: Path) -> None:
    rng = random.Random(11)
    folder = tmp_path / "gallery"
    for _ in range(RANDOM_KILLS):
        child = spawn("gallery", folder)
        kill_at(child, "begin", rng.randint(2, 6), delay=rng.random() * 0.2)
        assert_whole_gallery(folder)
