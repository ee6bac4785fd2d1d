"""A screenshot of the window connected to a served engine, for `docs/screenshots/`.

`studio serve`'s application (one CPU replica) runs on a local Ray started here, the real window
opens on it as `studio --engine URL` does, runs one comparison of the embedded pair on it, and is
grabbed with the status bar naming the engine. Ray binds the machine's addresses, so this runs
only in a private network namespace (loopback alone), offscreen:

    unshare -n bash -c 'ip link set lo up && OMP_NUM_THREADS=1 QT_QPA_PLATFORM=offscreen \\
        exec .venv/bin/python -m benchmarks.screenshots_remote --out docs/screenshots'
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.screenshots import PROMPT, SIZE, until

REMOTE_FILE = "remote-engine.png"
SCREEN_FILE = Path(__file__).resolve().parents[1] / "tests" / "offscreen-screen.json"
LOOPBACK_ONLY = (
    "Run this in a private network namespace (Ray binds every address of the machine): "
    "unshare -n bash -c 'ip link set lo up && exec .venv/bin/python -m "
    "benchmarks.screenshots_remote'"
)


def only_loopback() -> bool:
    return {name for _, name in socket.if_nameindex()} <= {"lo"}


def served_engine() -> str:
    """Start local Ray and the served engine (one replica); its URL."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from studio.cluster.serve_app import ServeSettings, start

    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    return start(ServeSettings(replicas=1))


def remote_studio(folder: Path, url: str) -> Any:
    """The real app on the served engine at `url`, with its files in `folder`."""
    from PySide6.QtCore import QSettings

    from studio.app import StudioApp, make_application
    from studio.core.settings import Settings, save_settings

    make_application()
    save_settings(folder / "settings.json", Settings(welcomed=True))
    return StudioApp(
        settings_path=folder / "settings.json",
        gallery_dir=folder / "gallery",
        geometry=QSettings(str(folder / "geometry.ini"), QSettings.Format.IniFormat),
        engine_url=url,
    )


async def shoot(studio: Any, out: Path) -> None:
    window, session = studio.window, studio.session
    running = asyncio.ensure_future(studio.run())
    await until(window.isVisible)
    window.resize(*SIZE)
    await until(lambda: window.status_line.text().startswith("Connected"), timeout=120)
    print(window.status_line.text())
    session.prompt = PROMPT
    window.generate()
    await until(lambda: "faster" in window.comparison.summary(), timeout=600, poll=0.05)
    await asyncio.sleep(0.5)
    window.grab().save(str(out / REMOTE_FILE))
    print(out / REMOTE_FILE, "·", window.engine_label.text(), "·", window.comparison.summary())
    window.close()
    await asyncio.wait_for(running, timeout=30)


def shoot_all(out: Path) -> None:
    import qasync
    import ray

    from studio.cluster.serve_app import stop

    out.mkdir(parents=True, exist_ok=True)
    url = served_engine()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            qasync.run(shoot(remote_studio(Path(tmp), url), out))
    finally:
        stop()
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    if not only_loopback():
        raise SystemExit(LOOPBACK_ONLY)
    if os.environ.get("QT_QPA_PLATFORM", "offscreen") == "offscreen":
        os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={SCREEN_FILE}"
    shoot_all(args.out)


if __name__ == "__main__":
    main()
