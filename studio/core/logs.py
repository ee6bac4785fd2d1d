"""Where tracebacks go: a rotating log file in the user's log folder, never the terminal."""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
from pathlib import Path
from types import TracebackType

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
    log_uncaught_exceptions()
    return path


def log_uncaught_exceptions() -> None:
    """Send the traceback of any exception that nothing caught, on the UI thread (a Qt slot) or
    any other thread, to the log file too, then to the previous hook as before."""
    log = logging.getLogger("studio.uncaught")
    previous_hook, previous_thread_hook = sys.excepthook, threading.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        log.error("uncaught exception", exc_info=(kind, value, tb))
        previous_hook(kind, value, tb)

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is not SystemExit and args.exc_value is not None:
            trace = (args.exc_type, args.exc_value, args.exc_traceback)
            log.error(
                "uncaught exception in thread %s", getattr(args.thread, "name", "?"), exc_info=trace
            )
        previous_thread_hook(args)

    sys.excepthook = hook
    threading.excepthook = thread_hook
