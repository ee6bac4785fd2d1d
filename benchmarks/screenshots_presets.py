"""A screenshot of the real studio window with the preset picker open, for `docs/screenshots/`.

Starts Xvfb (unless `--no-xvfb`) and the real app in a private settings folder, chooses a
published pair in the preset picker, opens the picker again and grabs the screen around the
window, popup included (a popup is its own top-level window, so `widget.grab()` misses it).
Run: `python -m benchmarks.screenshots_presets [--out docs/screenshots] [--display :98]`.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from benchmarks.screenshots import SIZE, private_studio, screenshot_main, until
from studio.ui.preset_picker import NAME_ROLE

CHOSEN = "SDXL-Lightning 4-step (LoRA)"
FILE_NAME = "model-presets.png"


async def shoot_picker(studio, out: Path) -> None:
    window = studio.window
    running = asyncio.ensure_future(studio.run())
    await until(window.isVisible)
    window.resize(*SIZE)
    await until(lambda: window.status_line.text().startswith("Ready · emoji-student"))
    combo = window.controls.preset_combo
    row = combo.findData(CHOSEN, NAME_ROLE)
    combo.setCurrentIndex(row)
    combo.activated.emit(row)
    await asyncio.sleep(0.3)
    combo.showPopup()
    await asyncio.sleep(0.6)
    frame = window.frameGeometry()
    shot = window.screen().grabWindow(0, frame.x(), frame.y(), frame.width(), frame.height())
    shot.save(str(out / FILE_NAME))
    print(out / FILE_NAME)
    combo.hidePopup()
    window.close()
    await asyncio.wait_for(running, timeout=30)


def shoot(out: Path) -> None:
    import qasync

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        qasync.run(shoot_picker(private_studio(Path(tmp)), out))


def main() -> None:
    screenshot_main(shoot, ":98", __doc__)


if __name__ == "__main__":
    main()
