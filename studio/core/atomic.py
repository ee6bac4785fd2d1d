"""Atomic file writes: a temporary sibling, flushed and fsynced, then renamed into place."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o644
PRIVATE_MODE = 0o600


def atomic_write(
    path: str | os.PathLike[str], write: Callable[[BinaryIO], object], mode: int = FILE_MODE
) -> Path:
    """Call `write` on a temp file beside `path`, then replace `path` with it.

    The file appears complete or not at all; on any failure the temp file is removed and the
    old file (if any) is left untouched. A private `mode` (no bits for group and others) is
    the temp file's from its creation, so a secret is never readable by others.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        with _create(temp, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return target


def _create(temp: Path, mode: int) -> BinaryIO:
    if mode & 0o077:
        return temp.open("xb")
    return os.fdopen(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, mode: int = FILE_MODE) -> Path:
    return atomic_write(path, lambda handle: handle.write(data), mode)


def atomic_write_text(path: str | os.PathLike[str], text: str, mode: int = FILE_MODE) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), mode)
