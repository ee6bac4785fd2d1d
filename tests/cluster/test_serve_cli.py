"""`studio serve --local` and `studio compare --engine URL` as a user runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cluster.conftest import HOW, only_loopback

pytestmark = pytest.mark.slow
PORT = 8031


def studio(*args: str) -> list[str]:
    return [sys.executable, "-m", "studio", *args]


def test_serve_then_compare_through_it_then_ctrl_c(tmp_path: Path):
    if not only_loopback():
        pytest.skip(HOW)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    token = tmp_path / "token"
    token.write_text("a-token-long-enough-for-studio\n")
    out = (tmp_path / "serve.out").open("w")
    server = subprocess.Popen(
        studio("serve", "--local", "--port", str(PORT), "--token-file", str(token)),
        stdout=out,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=tmp_path,
        # a shell without job control starts a background job's processes ignoring SIGINT,
        # and Python keeps an ignored SIGINT: give Ctrl+C back, however pytest was started
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 180
        while "Ctrl+C" not in (tmp_path / "serve.out").read_text():
            assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.5)
        said = (tmp_path / "serve.out").read_text()
        assert f"Serving the engine at http://127.0.0.1:{PORT}" in said
        url = f"http://127.0.0.1:{PORT}"
        refused = subprocess.run(
            studio("compare", "--engine", url, "--quiet", "--out", str(tmp_path / "no.png")),
            capture_output=True, text=True, env={**env, "STUDIO_SERVE_TOKEN": ""}, timeout=120,
        )  # fmt: skip
        assert refused.returncode == 1 and "token" in refused.stderr
        done = subprocess.run(
            studio("compare", "--engine", url, "--token-file", str(token), "--quiet",
                   "--out", str(tmp_path / "remote.png")),
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "remote.png").stat().st_size > 0 and "speed-up" in done.stdout
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=60) == 0
        out.close()
