"""Shared pytest setup: offscreen Qt, importable sources, and a guard against leaked threads."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# A common desktop screen instead of the offscreen platform's 800x800 (smaller than the window's
# minimum width); test_screen_fit.py starts windows on other screen sizes in subprocesses.
# (bootstrap.sh --test sets plain "offscreen", which gets the screen file too).
if os.environ.get("QT_QPA_PLATFORM", "offscreen") == "offscreen":
    screen_file = REPO_ROOT / "tests" / "offscreen-screen.json"
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={screen_file}"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

IGNORED_THREADS = ("TMonitor", "tqdm_monitor", "pytest_timeout", "QDBusConnection")
RAY_DRIVER_THREADS = ("(_run_router_event_loop)", "(_poll_wrapper)")
"""Threads a Ray Serve handle starts in the driver once; they live until ray.shutdown()."""


def _live_threads() -> set[threading.Thread]:
    return {
        t
        for t in threading.enumerate()
        if t.is_alive()
        and not t.name.startswith(IGNORED_THREADS)
        and not t.name.endswith(RAY_DRIVER_THREADS)
    }


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Fail any test that leaves a thread running (after a short grace period to finish)."""
    before = _live_threads()
    yield
    deadline = time.monotonic() + 3.0
    leaked = _live_threads() - before
    while leaked and time.monotonic() < deadline:
        time.sleep(0.02)
        leaked = {t for t in leaked if t.is_alive()}
    if leaked:
        pytest.fail(f"test left threads running: {sorted(t.name for t in leaked)}")


@pytest.fixture(autouse=True)
def studio_logging_restored():
    """Undo what a test's `studio.cli.main` call does to logging (a file handler on the "studio"
    logger and the uncaught-exception hooks), so no later test sees it."""
    studio_log = logging.getLogger("studio")
    handlers, propagate, level = list(studio_log.handlers), studio_log.propagate, studio_log.level
    hooks = sys.excepthook, threading.excepthook
    yield
    for handler in set(studio_log.handlers) - set(handlers):
        studio_log.removeHandler(handler)
        handler.close()
    studio_log.propagate, studio_log.level = propagate, level
    sys.excepthook, threading.excepthook = hooks
