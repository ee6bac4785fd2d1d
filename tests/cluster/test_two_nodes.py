"""The served engine on a two-node Ray cluster (simulated on this machine, loopback only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.conftest import HOW, only_loopback

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_a_grid_over_replicas_on_two_nodes_equals_one_local_engine():
    """Its own process: a `Cluster` cannot start where the session's local Ray runs."""
    if not only_loopback():
        pytest.skip(HOW)
    done = subprocess.run(
        [sys.executable, "-m", "tests.cluster.two_nodes"],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    seen = json.loads(lines[-1])
    assert seen == {"finished": True, "cells": 4, "equal": True, "nodes": 2, "cluster_nodes": 2}
