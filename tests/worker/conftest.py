from __future__ import annotations

import pytest

from studio.worker.host import EngineHost


@pytest.fixture
def hosts():
    """Engine hosts a test starts; each is closed, and must have stopped, after the test."""
    made: list[EngineHost] = []
    yield made
    for host in made:
        host.close()
        assert not host.alive
