"""Shared pytest setup: offscreen Qt, importable sources, and a guard against leaked threads."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

IGNORED_THREADS = ("TMonitor", "tqdm_monitor", "pytest_timeout", "QDBusConnection")


def _live_threads() -> set[threading.Thread]:
    return {
        t for t in threading.enumerate() if t.is_alive() and not t.name.startswith(IGNORED_THREADS)
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
