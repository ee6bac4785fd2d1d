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
