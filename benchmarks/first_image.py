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
import sys
from pathlib import Path

from studio.cli.window import early_engine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probe", type=Path)
    parser.add_argument("--engine", choices=["process", "thread"], default="process")
    args = parser.parse_args()
    # As `python -m studio` does: the engine process starts before Qt and the window load.
    early = early_engine() if args.engine == "process" else None
    import qasync

    from benchmarks.first_image_window import watch
    from studio.app import EngineKind, make_application

    make_application([sys.argv[0]])
    return qasync.run(watch(args.probe, EngineKind(args.engine), early))


if __name__ == "__main__":
    sys.exit(main())
