"""Screenshots of the real studio window under Xvfb, for `docs/screenshots/`.

Starts Xvfb as a child process (unless `--no-xvfb`), then the real app with the real engine on
the embedded teacher, types a prompt, queues three comparisons and grabs the window while the
first one forms, after they finish in each comparison mode, with the gallery in use, and with
the oldest comparison of the History strip shown again in the panes (history-restored.png).
Run: `python -m benchmarks.screenshots [--out docs/screenshots] [--display :99]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPoint, QSettings
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QToolTip

PROMPT = "grinning face, smileys & emotion, face smiling, noto style"
SECOND_PROMPT = "red heart, smileys & emotion, heart, noto style"
SIZE = (1440, 900)


def start_xvfb(display: str, screen: str = "1600x1000x24") -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", screen, "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    socket = Path(f"/tmp/.X11-unix/X{display.lstrip(':')}")
    deadline = time.monotonic() + 10
    while not socket.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"Xvfb did not start on {display}")
        time.sleep(0.05)
    return server


async def until(condition: Callable[[], bool], timeout: float = 120, poll: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not get there in time")
        await asyncio.sleep(poll)


class Shooter:
    """Drives one studio window through the scenes and saves each as a PNG."""

    def __init__(self, studio, out: Path) -> None:
        self.studio = studio
        self.window = studio.window
        self.out = out

    async def save(self, name: str, settle_s: float = 0.15) -> None:
        await asyncio.sleep(settle_s)
        path = self.out / name
        self.window.grab().save(str(path))
        print(path)

    async def run(self) -> None:
        window, session = self.window, self.studio.session
        running = asyncio.ensure_future(self.studio.run())
        await until(window.isVisible)
        window.resize(*SIZE)
        await until(lambda: window.status_line.text().startswith("Ready"))
        prompt = window.controls.prompt_edit
        prompt.clear()
        QTest.keyClicks(prompt, PROMPT)
        session.batch_count = 3
        session.seed_mode = "increment"
        window.generate()
        await until(lambda: window.gallery_strip.count() == 2)
        await until(
            lambda: session.teacher.step >= 11 and session.teacher.preview is not None, poll=0
        )
        await self.save("main-midgeneration.png", 0)
        await until(lambda: not session.busy)
        await self.comparisons(window)
        await self.gallery(window)
        await self.history(window)
        window.close()
        await asyncio.wait_for(running, timeout=30)

    async def comparisons(self, window) -> None:
        window.comparison.set_mode("side_by_side")
        await self.save("compare-side-by-side.png")
        window.comparison.set_mode("swipe")
        window.comparison.swipe_view.set_fraction(0.5)
        await self.save("compare-swipe.png")
        window.comparison.set_mode("difference")
        await self.save("compare-difference.png")
        window.comparison.set_mode("side_by_side")

    async def gallery(self, window) -> None:
        session = self.studio.session
        session.prompt, session.batch_count, session.seed = SECOND_PROMPT, 1, 7
        window.generate()
        await until(lambda: not session.busy and window.gallery_strip.count() == 8)
        strip = window.gallery_strip
        item = strip.item(3)
        strip.setCurrentItem(item)
        strip.itemClicked.emit(item)
        anchor = strip.visualItemRect(item).topLeft() - QPoint(0, 140)
        QToolTip.showText(strip.viewport().mapToGlobal(anchor), item.toolTip(), strip)
        await asyncio.sleep(0.3)
        frame = window.frameGeometry()
        shot = window.screen().grabWindow(0, frame.x(), frame.y(), frame.width(), frame.height())
        shot.save(str(self.out / "gallery.png"))
        print(self.out / "gallery.png")

    async def history(self, window) -> None:
        """The first comparison's teacher clicked: both of its images back in the panes."""
        QToolTip.hideText()
        strip = window.gallery_strip
        item = strip.item(strip.count() - 1)
        strip.setCurrentItem(item)
        strip.itemClicked.emit(item)
        await until(lambda: window.preview.pair is not None)
        await self.save("history-restored.png", 0.3)


def private_studio(folder: Path, welcomed: bool = True):
    """The real app with its settings, gallery and geometry in `folder` (nothing of the user's);
    past the first-run welcome unless `welcomed` is False."""
    from studio.app import StudioApp, make_application
    from studio.core.settings import Settings, save_settings

    make_application()
    if welcomed:
        save_settings(folder / "settings.json", Settings(welcomed=True))
    return StudioApp(
        settings_path=folder / "settings.json",
        gallery_dir=folder / "gallery",
        geometry=QSettings(str(folder / "geometry.ini"), QSettings.Format.IniFormat),
    )


def shoot(out: Path) -> None:
    import qasync

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        qasync.run(Shooter(private_studio(Path(tmp)), out).run())


def screenshot_main(shoot: Callable[[Path], None], display: str, doc: str | None) -> None:
    """The command line every screenshot script shares: --out, --display, --no-xvfb."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--display", default=display)
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


def main() -> None:
    screenshot_main(shoot, ":99", __doc__)


if __name__ == "__main__":
    main()
