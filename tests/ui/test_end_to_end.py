"""The whole studio with the real engine on tiny saved pipelines: type, Generate, compare, save."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
import qasync
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QPlainTextEdit, QPushButton

from studio.app import StudioApp
from studio.core.metadata import parse_parameters
from studio.core.pngio import read_parameters
from studio.core.settings import LaneRecipe, Settings, save_settings
from studio.worker.process_engine import ProcessEngine
from tests.ui.waiting import wait_for

pytest.importorskip("torch")
tiny = pytest.importorskip("tests.engine.tiny")

PROMPT = "smiling cat face"


def tiny_settings(tmp_path: Path) -> Path:
    teacher = tiny.save_tiny_emoji_pipeline(tmp_path / "tiny-teacher", seed=0)
    student = tiny.save_tiny_emoji_pipeline(tmp_path / "tiny-student", seed=1)
    settings = replace(
        Settings(),
        teacher=LaneRecipe(sampler="DPM++ 2M", num_inference_steps=12, guidance_scale=3.0),
        student=LaneRecipe(sampler="DDIM trailing", num_inference_steps=2, guidance_scale=1.0),
        teacher_model=str(teacher),
        student_model=str(student),
    )
    path = tmp_path / "settings.json"
    save_settings(path, settings)
    return path


def test_type_generate_compare_and_save(tmp_path: Path, qapp, qtbot) -> None:
    studio = StudioApp(
        settings_path=tiny_settings(tmp_path),
        gallery_dir=tmp_path / "gallery",
        geometry=QSettings(str(tmp_path / "geometry.ini"), QSettings.Format.IniFormat),
    )
    window = studio.window
    comparison = window.comparison

    def done() -> bool:
        summary = comparison.summary()
        return (
            comparison.teacher_view.has_image()
            and comparison.student_view.has_image()
            and "PSNR" in summary
            and window.gallery_strip.count() == 2
        )

    async def scenario() -> int:
        running = asyncio.ensure_future(studio.run())
        try:
            await wait_for(window.isVisible, 10)
            prompt = window.findChild(QPlainTextEdit, "promptEdit")
            prompt.clear()
            qtbot.keyClicks(prompt, PROMPT)
            generate = window.findChild(QPushButton, "generateButton")
            qtbot.mouseClick(generate, Qt.MouseButton.LeftButton)
            await wait_for(done)
        finally:
            window.close()
        return await asyncio.wait_for(running, timeout=20)

    loop = qasync.QEventLoop(qapp)
    try:
        assert loop.run_until_complete(scenario()) == 0
    finally:
        loop.close()
    assert isinstance(studio.client, ProcessEngine), "the window's default engine is a process"
    assert not studio.client.alive, "the engine must be stopped on close"
    assert window.banner.kind != "error", window.banner.message()
    summary = comparison.summary()
    assert "faster" in summary and "PSNR" in summary, summary
    assert "12 steps" in comparison.teacher_view.caption()
    saved = [Path(window.gallery_strip.path_at(row)) for row in range(2)]
    lanes = set()
    for path in saved:
        assert path.parent == tmp_path / "gallery" and path.suffix == ".png"
        parsed = parse_parameters(read_parameters(path) or "")
        assert parsed.params.prompt == PROMPT and parsed.params.seed == 0
        lanes.add(parsed.extra["Lane"])
    assert lanes == {"teacher", "student"}
