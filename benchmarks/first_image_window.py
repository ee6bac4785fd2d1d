"""The Qt half of benchmarks.first_image: the window that presses Generate when shown and notes
when each lane's image arrives (imported once the engine process is already starting)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from PySide6.QtCore import QTimer

from studio.app import EngineKind, ExposeWatcher, StudioApp, close_on_signals
from studio.core.client import EngineClient


class FirstImages:
    """Presses Generate when the window is shown and notes when each lane's image arrives."""

    def __init__(self, studio: StudioApp, probe: Path) -> None:
        self.studio, self.probe = studio, probe
        self.times: dict[str, float] = {}
        self.lanes = {"teacher": studio.session.teacher, "student": studio.session.student}
        self.expected = ["teacher", "student"] if studio.session.compare_mode else ["teacher"]
        for name in self.expected:
            self.lanes[name].finished.connect(lambda name=name: self._finished(name))
        ExposeWatcher(studio.window, self._shown)

    def _shown(self) -> None:
        self.times["shown"] = time.time()
        QTimer.singleShot(0, self.studio.window.generate)

    def _finished(self, name: str) -> None:
        self.times.setdefault(name, time.time())
        if all(n in self.times for n in self.expected):
            timings = {n: self.lanes[n].timings for n in self.expected}
            self.times |= {f"{n}_load_s": t.load_s for n, t in timings.items() if t}
            self.times |= {f"{n}_total_s": t.total_s for n, t in timings.items() if t}
            self.probe.write_text(json.dumps(self.times), encoding="utf-8")
            self.studio.window.close()


async def watch(probe: Path, engine: EngineKind, client: EngineClient | None) -> int:
    studio = StudioApp(engine=engine, client=client)
    FirstImages(studio, probe)
    with close_on_signals(studio.window):
        return await studio.run()
