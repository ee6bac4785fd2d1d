"""Real Ray for the cluster tests, only inside a private network namespace (loopback alone).

Ray binds the machine's ethernet address when it has one, so these tests refuse to start Ray
anywhere but in a namespace whose only interface is `lo`: the test command runs pytest in one
(packaging/bootstrap.sh), and by hand:

    unshare -n bash -c 'ip link set lo up && exec .venv/bin/python -m pytest tests/cluster'
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from tests.conftest import IGNORED_THREADS

HOW = (
    "Ray tests run only in a private network namespace: "
    "unshare -n bash -c 'ip link set lo up && exec .venv/bin/python -m pytest tests/cluster'"
)


def only_loopback() -> bool:
    return {name for _, name in socket.if_nameindex()} <= {"lo"}


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """One local Ray instance (2 CPUs) for the session's cluster tests."""
    if not only_loopback():
        pytest.skip(HOW)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        yield
    finally:
        ray.shutdown()


RAY_DRIVER_THREADS = (*IGNORED_THREADS, "_run_router_event_loop", "_poll_wrapper")
"""Threads a Serve handle starts in the driver once; they live until ray.shutdown()."""


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """As the suite's check, but the threads Ray keeps in the driver for its handles are not
    the test's to stop."""
    import threading
    import time

    def live() -> set[threading.Thread]:
        return {
            t
            for t in threading.enumerate()
            if t.is_alive() and not any(mark in t.name for mark in RAY_DRIVER_THREADS)
        }

    before = live()
    yield
    deadline = time.monotonic() + 3.0
    leaked = live() - before
    while leaked and time.monotonic() < deadline:
        time.sleep(0.02)
        leaked = {t for t in leaked if t.is_alive()}
    if leaked:
        pytest.fail(f"test left threads running: {sorted(t.name for t in leaked)}")
