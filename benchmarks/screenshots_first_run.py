"""The first-run window (the welcome over the default pair) under Xvfb, for `docs/screenshots/`.

Starts Xvfb as a child process (unless `--no-xvfb`) and the real app with a fresh settings
folder, so the welcome shows; waits until the engine has loaded the embedded pair and grabs
the window. Run: `python -m benchmarks.screenshots_first_run [--out docs/screenshots]`.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from benchmarks.screenshots import SIZE, private_studio, screenshot_main, until

FILE_NAME = "first-run.png"


async def shoot_first_run(studio, out: Path) -> None:
    window = studio.window
    running = asyncio.ensure_future(studio.run())
    await until(window.isVisible)
    window.resize(*SIZE)
    await until(lambda: window.status_line.text().startswith("Ready · emoji-student"), 600)
    await asyncio.sleep(0.5)
    assert window.welcome.panel is not None and window.welcome.panel.isVisible()
    window.grab().save(str(out / FILE_NAME))
    print(out / FILE_NAME)
    window.close()
    await asyncio.wait_for(running, timeout=30)


def shoot(out: Path) -> None:
    import qasync

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        qasync.run(shoot_first_run(private_studio(Path(tmp), welcomed=False), out))


def main() -> None:
    screenshot_main(shoot, ":97", __doc__)


if __name__ == "__main__":
    main()
