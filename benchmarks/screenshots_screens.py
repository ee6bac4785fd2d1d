"""The window as it first opens on common screens, grabbed whole-screen under Xvfb.

For each screen size (1366x768 and 1920x1080), a fresh Xvfb of that size and a first start
of the real app on the embedded models (the welcome shown, the window at its first-run size):
`screen-<W>x<H>-first-start.png`, then the welcome's "Generate this prompt" and
`screen-<W>x<H>-mid-run.png` while the images form, `screen-<W>x<H>-compared.png` when done.
Run: `python -m benchmarks.screenshots_screens [--out docs/screenshots]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.screenshots import private_studio, start_xvfb, until

SCREENS = ((1366, 768), (1920, 1080))


class ScreenShooter:
    """Drives one first start on one screen and saves the whole screen at each scene."""

    def __init__(self, studio, out: Path, size: tuple[int, int]) -> None:
        self.studio, self.window, self.out = studio, studio.window, out
        self.prefix = f"screen-{size[0]}x{size[1]}"

    async def save(self, scene: str, settle_s: float = 0.3) -> None:
        await asyncio.sleep(settle_s)
        path = self.out / f"{self.prefix}-{scene}.png"
        self.window.screen().grabWindow(0).save(str(path))
        print(path)

    async def run(self) -> None:
        window, session = self.window, self.studio.session
        running = asyncio.ensure_future(self.studio.run())
        await until(window.isVisible)
        await until(lambda: window.status_line.text().startswith("Ready"))
        await self.save("first-start")
        panel = window.welcome.panel
        assert panel is not None, "a first start shows the welcome"
        session.preview_every = 1
        panel.generate_button.click()
        await until(
            lambda: session.teacher.step >= 10 and session.teacher.preview is not None, poll=0
        )
        await self.save("mid-run", 0)
        await until(lambda: not session.busy and bool(session.comparison.job_id))
        await self.save("compared")
        window.close()
        await asyncio.wait_for(running, timeout=30)


def shoot_one(out: Path, size: tuple[int, int]) -> None:
    import qasync

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        studio = private_studio(Path(tmp), welcomed=False)
        qasync.run(ScreenShooter(studio, out, size).run())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--size", help="one screen, WxH (used by the per-screen child process)")
    args = parser.parse_args()
    if args.size:
        width, height = (int(part) for part in args.size.split("x"))
        shoot_one(args.out, (width, height))
        return
    for index, (width, height) in enumerate(SCREENS):
        display = f":{97 + index}"
        server = start_xvfb(display, f"{width}x{height}x24")
        try:
            env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb")
            command = [sys.executable, "-m", "benchmarks.screenshots_screens"]
            command += ["--out", str(args.out), "--size", f"{width}x{height}"]
            subprocess.run(command, env=env, check=True, timeout=600)
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
