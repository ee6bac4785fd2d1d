"""A window stand-in for the orphan test: start a process engine, print its child's pid, wait."""

from __future__ import annotations

import sys
import time

from studio.worker.process_engine import ProcessEngine

if __name__ == "__main__":
    engine = ProcessEngine(runner="pretend")
    while engine.child_pid is None:
        time.sleep(0.02)
    print(engine.child_pid, flush=True)
    time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
