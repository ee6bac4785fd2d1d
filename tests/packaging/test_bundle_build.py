"""The desktop bundle built and smoke-tested for real (minutes: marked slow).

    pytest -m slow tests/packaging/test_bundle_build.py

.ci/run builds and smoke-tests the bundle as its own step after the test command (about 3 min
to build and 25 s to check on the 2-core CI machine), so this test is for developers' runs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_bundle_builds_and_passes_its_smoke_test(tmp_path):
    env = {**os.environ, "STUDIO_DIST": str(tmp_path / "dist")}
    build = subprocess.run(
        ["bash", str(ROOT / "packaging" / "build.sh")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    smoke = subprocess.run(
        ["bash", str(ROOT / "packaging" / "smoke.sh"), str(tmp_path / "dist" / "studio")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert smoke.returncode == 0, smoke.stdout[-3000:] + smoke.stderr[-3000:]
    assert "smoke: PASSED" in smoke.stdout
