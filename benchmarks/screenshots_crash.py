"""A screenshot of the window right after its engine process died, for `docs/screenshots/`.

The real app with the real engine process on the embedded pair: a comparison starts, and once
its teacher's previews are forming the engine process is killed with SIGKILL (as the kernel's
out-of-memory killer would); the window is grabbed with its one-sentence message, and the next
comparison (on the restarted engine) is waited for and grabbed too.
Run: `python -m benchmarks.screenshots_crash [--out docs/screenshots] [--display :96]`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
from pathlib import Path
from typing import Any

import qasync

from benchmarks.screenshots import PROMPT, SIZE, private_studio, screenshot_main, until

CRASH_FILE = "engine-crash.png"
AFTER_FILE = "engine-crash-next-comparison.png"


async def shoot(studio: Any, out: Path) -> None:
    from studio.worker.process_engine import ProcessEngine

    window, session, engine = studio.window, studio.session, studio.client
    assert isinstance(engine, ProcessEngine)
    running = asyncio.ensure_future(studio.run())
    await until(window.isVisible)
    window.resize(*SIZE)
    await until(lambda: window.status_line.text().startswith("Ready"))
    session.prompt = PROMPT
    window.generate()
    await until(lambda: "step 6/" in window.comparison.teacher_view.caption())
    pid = engine.child_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await until(lambda: window.banner.kind == "error")
    await asyncio.sleep(0.8)
    window.grab().save(str(out / CRASH_FILE))
    print(out / CRASH_FILE, "·", window.banner.message())
    window.generate()
    await until(lambda: "faster" in window.comparison.summary(), timeout=240)
    await asyncio.sleep(0.5)
    window.grab().save(str(out / AFTER_FILE))
    print(out / AFTER_FILE, "·", window.comparison.summary())
    window.close()
    await asyncio.wait_for(running, timeout=30)


def shoot_all(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        qasync.run(shoot(private_studio(Path(tmp)), out))


if __name__ == "__main__":
    screenshot_main(shoot_all, ":96", __doc__)
