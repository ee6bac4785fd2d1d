import subprocess
import sys


def test_importing_the_engine_prints_nothing():
    done = subprocess.run(
        [sys.executable, "-c", "import studio.engine.runner, studio.engine.loading"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == "" and done.stderr == ""
