"""The remembered token of a served engine: one private file (0600) beside the settings file.

The token never goes into the settings file, which may be shared or backed up freely. Writing
is atomic and the file is private from its creation; reading is forgiving (a missing,
unreadable or absurd file reads as no token, with a warning in the log).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from studio.core.atomic import PRIVATE_MODE, atomic_write_text

log = logging.getLogger(__name__)

TOKEN_FILE = "engine-token"
MAX_TOKEN_CHARS = 4096


def token_path(settings_path: str | os.PathLike[str]) -> Path:
    """Where the token is kept for the settings file at `settings_path`."""
    return Path(settings_path).with_name(TOKEN_FILE)


def read_token(path: str | os.PathLike[str]) -> str:
    """The token saved at `path`; "" when there is none or it cannot be used."""
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("the engine token file %s cannot be read: %s", path, exc)
        return ""
    if len(text) > MAX_TOKEN_CHARS or any(c.isspace() for c in text):
        log.warning("the engine token file %s holds no usable token", path)
        return ""
    return text


def write_token(path: str | os.PathLike[str], token: str) -> Path:
    """Keep `token` at `path` (mode 0600, atomically); no token removes the file. OSError."""
    target = Path(path)
    if not token:
        target.unlink(missing_ok=True)
        return target
    return atomic_write_text(target, token + "\n", mode=PRIVATE_MODE)
