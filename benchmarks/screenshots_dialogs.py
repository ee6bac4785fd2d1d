"""Screenshots of File > Engine settings… and File > Open hub model… open over the real window,
for `docs/screenshots/`.

The real app with the real engine on the embedded pair: once it is ready, each dialog is opened
as its menu action opens it (without blocking, so the loop can grab the screen, dialog included),
filled in, and grabbed; the engine settings are then applied, and the engine's answer printed.
Run: `python -m benchmarks.screenshots_dialogs [--out docs/screenshots] [--display :97]`.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from PySide6.QtTest import QTest

from benchmarks.screenshots import SIZE, private_studio, screenshot_main, until

HUB_ID = "stabilityai/sd-turbo"


def grab(window: Any, path: Path) -> None:
    frame = window.frameGeometry()
    shot = window.screen().grabWindow(0, frame.x(), frame.y(), frame.width(), frame.height())
    shot.save(str(path))
    print(path)


async def shoot_engine_settings(window: Any, out: Path) -> None:
    from studio.core.engine_options import EngineOptions

    dialog = window.engine_settings.open()
    dialog.set_options(EngineOptions(ram_budget_mb=8192, max_models=2))
    await asyncio.sleep(0.6)
    grab(window, out / "engine-settings.png")
    dialog.accept()
    await until(lambda: window.status_line.text().startswith("Engine settings applied"))
    print(window.status_line.text())


async def shoot_hub_model(window: Any, out: Path) -> None:
    dialog = window.hub_models.open()
    QTest.keyClicks(dialog.edit, HUB_ID)
    await asyncio.sleep(0.6)
    grab(window, out / "open-hub-model.png")
    dialog.reject()


async def shoot(studio: Any, out: Path) -> None:
    window = studio.window
    running = asyncio.ensure_future(studio.run())
    await until(window.isVisible)
    window.resize(*SIZE)
    await until(lambda: window.status_line.text().startswith("Ready"))
    await shoot_engine_settings(window, out)
    await shoot_hub_model(window, out)
    window.close()
    await asyncio.wait_for(running, timeout=30)


def capture(out: Path) -> None:
    import qasync

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        qasync.run(shoot(private_studio(Path(tmp)), out))


def main() -> None:
    screenshot_main(capture, ":97", __doc__)


if __name__ == "__main__":
    main()
