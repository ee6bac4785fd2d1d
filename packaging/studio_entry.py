"""The frozen bundle's entry point: the `studio` command (the window without arguments)."""

import multiprocessing
import sys

from studio.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
