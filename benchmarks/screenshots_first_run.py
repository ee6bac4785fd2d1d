"""The first-run window (the welcome over the default pair) under Xvfb, for `docs/screenshots/`.

Starts Xvfb as a child process (unless `--no-xvfb`) and the real app with a fresh settings
folder, so the welcome shows; waits until the engine has loaded the embedded pair and grabs
the window. Run: `python -m benchmarks.screenshots_first_run [--out docs/screenshots]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

from benchmarks.screenshots import SIZE, private_studio, start_xvfb, until

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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--display", default=":97")
    parser.add_argument("--no-xvfb", action="store_true", help="use the current DISPLAY")
    args = parser.parse_args()
    server = None if args.no_xvfb else start_xvfb(args.display)
    try:
        if server is not None:
            os.environ["DISPLAY"] = args.display
        os.environ["QT_QPA_PLATFORM"] = "xcb"
        shoot(args.out)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
