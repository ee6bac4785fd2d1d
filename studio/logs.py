"""Where tracebacks go: a rotating log file in the user's log folder, never the terminal."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from platformdirs import user_log_dir


def log_path() -> Path:
    return Path(user_log_dir("studio")) / "studio.log"


def configure_logging(level: int = logging.INFO) -> Path:
    """Send the studio's log records to its log file (once per process)."""
    path = log_path()
    root = logging.getLogger("studio")
    if any(getattr(h, "studio_file", False) for h in root.handlers):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # A marker attribute, read back with getattr above, so a second call adds no handler.
    handler.studio_file = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    return path
