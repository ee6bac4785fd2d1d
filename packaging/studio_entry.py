"""The frozen bundle's entry point: the `studio` command (the window without arguments), or the
engine's child process when the window starts it (`--engine-child`, before any Qt import)."""

import multiprocessing
import sys

from studio.worker.engine_child import maybe_run_engine_child

if __name__ == "__main__":
    multiprocessing.freeze_support()
    maybe_run_engine_child(sys.argv)
    from studio.cli import main

    sys.exit(main())
