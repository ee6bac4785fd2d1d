"""The window on the engine process (the pretend runner: no torch, scripted crashes): a child
killed mid-job costs that one job, the window says so in one sentence and goes on, and the next
comparison is exactly what a fresh process makes; Restart engine swaps the process."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import qasync
from PySide6.QtCore import QSettings

from studio.app import StudioApp
from studio.core.jobs import Lane
from studio.core.metadata import parse_parameters
from studio.core.pngio import read_image, read_parameters
from studio.core.settings import Settings, save_settings
from studio.worker.pretend_runner import pretend_image
from studio.worker.process_engine import ProcessEngine
from tests.ui.waiting import wait_for


def pretend_studio(tmp_path: Path) -> StudioApp:
    save_settings(tmp_path / "settings.json", Settings(welcomed=True))
    return StudioApp(
        settings_path=tmp_path / "settings.json",
        gallery_dir=tmp_path / "gallery",
        geometry=QSettings(str(tmp_path / "geometry.ini"), QSettings.Format.IniFormat),
        client=ProcessEngine(runner="pretend"),
    )


def run_scenario(qapp, studio: StudioApp, scenario: Callable[[], object]) -> None:
    async def main() -> int:
        running = asyncio.ensure_future(studio.run())
        try:
            await wait_for(studio.window.isVisible, 10)
            await scenario()
        finally:
            studio.window.close()
        return await asyncio.wait_for(running, timeout=20)

    loop = qasync.QEventLoop(qapp)
    try:
        assert loop.run_until_complete(main()) == 0
    finally:
        loop.close()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_engine_costs_one_job_and_the_next_comparison_is_exact(tmp_path, qapp):
    studio = pretend_studio(tmp_path)
    engine = studio.client
    assert isinstance(engine, ProcessEngine)
    window, session = studio.window, studio.session
    first_pid: list[int | None] = []
    told: list[str] = []

    async def scenario() -> None:
        await wait_for(lambda: engine.child_pid is not None)
        first_pid.append(engine.child_pid)
        session.compare_mode = True
        session.prompt = "sleep=0.02 crash=kill@2"
        assert window.generate()
        await wait_for(lambda: window.banner.kind == "error")
        told.append(window.banner.message())
        assert window.controls.generate_button.isEnabled()
        session.prompt = "sleep=0.01"
        session.seed = 11
        assert window.generate()
        await wait_for(lambda: window.gallery_strip.count() == 2)

    run_scenario(qapp, studio, scenario)
    (message,) = told
    assert "killed (SIGKILL" in message and "restarts" in message, message
    assert message.count(".") <= 2, "one sentence (and the signal's note)"
    assert first_pid[0] is not None and not pid_alive(first_pid[0])
    for row in range(2):
        path = Path(window.gallery_strip.path_at(row))
        parsed = parse_parameters(read_parameters(path) or "")
        lane = Lane(parsed.extra["Lane"])
        assert parsed.params.seed == 11
        image = read_image(path)
        expected = pretend_image(11, lane, image.shape[1], image.shape[0])
        assert np.array_equal(image, expected), path.name
    assert engine.child_pid is None or not pid_alive(engine.child_pid), "no process left"


def test_restart_engine_swaps_the_process_and_the_window_goes_on(tmp_path, qapp):
    studio = pretend_studio(tmp_path)
    engine = studio.client
    assert isinstance(engine, ProcessEngine)
    window, session = studio.window, studio.session
    pids: list[int | None] = []

    async def scenario() -> None:
        await wait_for(lambda: engine.child_pid is not None)
        pids.append(engine.child_pid)
        window.window_actions.restart_engine.trigger()
        await wait_for(lambda: engine.child_pid not in (None, pids[0]))
        pids.append(engine.child_pid)
        session.compare_mode = False
        session.prompt = "sleep=0.01"
        assert window.generate()
        await wait_for(lambda: window.gallery_strip.count() == 1)

    run_scenario(qapp, studio, scenario)
    assert pids[0] != pids[1] and not pid_alive(pids[0])
    assert window.banner.kind != "error", window.banner.message()
