"""The studio as `python -m studio` starts it, clicking Generate the moment the window is shown.

A child process of the start-up part (benchmarks.suite_startup): it runs the real StudioApp
with whatever settings its (private) config folder holds, presses Generate once the window is
first painted, and writes the wall-clock times of the window's first paint and of each lane's
first finished image to the probe file as JSON, then closes the window and exits.
`--engine thread` runs the window on the thread engine instead of the engine process (the
default, as `python -m studio`).
Run: `python -m benchmarks.first_image PROBE_FILE [--engine process|thread]` (in a private
HOME / XDG_CONFIG_HOME).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from PySide6.QtCore import QTimer

from studio.app import EngineKind, ExposeWatcher, StudioApp, close_on_signals, make_application


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


async def _main(probe: Path, engine: EngineKind) -> int:
    studio = StudioApp(engine=engine)
    FirstImages(studio, probe)
    with close_on_signals(studio.window):
        return await studio.run()


def main() -> int:
    import qasync

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probe", type=Path)
    parser.add_argument("--engine", choices=[k.value for k in EngineKind], default="process")
    args = parser.parse_args()
    make_application([sys.argv[0]])
    return qasync.run(_main(args.probe, EngineKind(args.engine)))


if __name__ == "__main__":
    sys.exit(main())
