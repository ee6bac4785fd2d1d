"""The whole studio with the real engine on a tiny saved pipeline, with faults injected inside
`pipe(...)`: an exception, an out-of-memory error, NaN output and a crash of the engine thread
(SystemExit). After each, the window is up, shows one sentence naming the fault, saved nothing,
and the next Generate runs and saves its image; the tracebacks are in the log file."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import qasync
from PySide6.QtCore import QSettings

from studio.app import EngineStartup, StudioApp
from studio.core.settings import LaneRecipe, Settings, save_settings
from tests.ui.test_end_to_end import wait_for
from tests.worker.test_faults import log_file

torch = pytest.importorskip("torch")
tiny = pytest.importorskip("tests.engine.tiny")

FAULTS: dict[str, tuple[Callable[[tuple[Any, ...]], Any], str]] = {
    "exception": (
        lambda args: _raise(RuntimeError("CUDA error: misaligned address")),
        "RuntimeError",
    ),
    "oom": (lambda args: _raise(torch.OutOfMemoryError("CUDA out of memory")), "ran out of memory"),
    "nan": (lambda args: (torch.full_like(args[0], float("nan")), *args[1:]), "NaN"),
    "crash": (lambda args: _raise(SystemExit(1)), "engine thread crashed"),
}


__all__ = ["log_file"]


def _raise(error: BaseException) -> None:
    raise error


def faulty_runner_factory(faults: list[str | None]) -> Callable[[], Any]:
    """A real Runner that injects the next fault of `faults` into its next job's denoiser."""

    def build() -> Any:
        from studio.engine.model_cache import ModelCache
        from studio.engine.runner import Runner
        from studio.engine.sampling import denoiser

        class FaultyRunner(Runner):
            def run(self, job: Any, token: Any, sink: Any) -> Any:
                fault = faults.pop(0) if faults else None
                if fault is None:
                    return super().run(job, token, sink)
                loaded, _ = self.models.get(job.lanes[0][1].model)
                inject = FAULTS[fault][0]
                hook = denoiser(loaded.pipe).register_forward_pre_hook(lambda m, a: inject(a))
                try:
                    return super().run(job, token, sink)
                finally:
                    hook.remove()

        return FaultyRunner(ModelCache(capacity=2))

    return build


def tiny_teacher_settings(tmp_path: Path) -> Path:
    teacher = tiny.save_tiny_emoji_pipeline(tmp_path / "tiny-teacher", seed=0)
    settings = replace(
        Settings(),
        teacher=LaneRecipe(sampler="DDIM trailing", num_inference_steps=2, guidance_scale=2.0),
        teacher_model=str(teacher),
        compare_mode=False,
    )
    return save_settings(tmp_path / "settings.json", settings)


def test_faults_in_the_engine_leave_the_window_usable(tmp_path: Path, qapp, log_file: Path):
    order = ["exception", "oom", "nan", "crash"]
    faults: list[str | None] = [f for name in order for f in (name, None)]
    studio = StudioApp(
        settings_path=tiny_teacher_settings(tmp_path),
        gallery_dir=tmp_path / "gallery",
        geometry=QSettings(str(tmp_path / "geometry.ini"), QSettings.Format.IniFormat),
        startup=EngineStartup(faulty_runner_factory(faults)),
    )
    window, session = studio.window, studio.session
    seen: list[tuple[str, str, int]] = []

    async def one_job() -> None:
        assert window.generate(), window.banner.message()
        await wait_for(lambda: not session.busy)

    async def scenario() -> int:
        running = asyncio.ensure_future(studio.run())
        try:
            await wait_for(window.isVisible, 10)
            for name in order:
                await one_job()
                seen.append((name, window.banner.message(), window.gallery_strip.count()))
                await one_job()
                seen.append(("clean", window.banner.message(), window.gallery_strip.count()))
        finally:
            window.close()
        return await asyncio.wait_for(running, timeout=30)

    loop = qasync.QEventLoop(qapp)
    try:
        assert loop.run_until_complete(scenario()) == 0
    finally:
        loop.close()
    pairs = zip(seen[::2], seen[1::2], strict=True)
    for saved, ((name, message, count), (_, clean_message, clean_count)) in enumerate(pairs):
        assert FAULTS[name][1] in message, (name, message)
        assert message.endswith(".") and message.count(". ") == 0, message
        assert count == saved, f"{name}: nothing may be saved"
        assert clean_count == saved + 1 and clean_message == "", (name, clean_message)
    text = log_file.read_text("utf-8")
    for needle in ("RuntimeError: CUDA error", "OutOfMemoryError", "NonFiniteImage", "SystemExit"):
        assert needle in text
    assert text.count("Traceback (most recent call last)") >= len(order)
