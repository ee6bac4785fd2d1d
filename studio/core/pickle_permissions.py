"""The user's per-file permissions to read a pickle checkpoint, as plain values.

A permission names one file by its resolved path, its size and its modification time, so a file
replaced or rewritten after the user allowed it is not allowed any more (the user is asked
again). A model reference gets `allow_pickle=True` only for a single file whose stamp matches a
permission now; the engine then reads it with torch.load(weights_only=True).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from studio.core.models import ModelRef, ModelSource

MAX_PERMISSIONS = 200
_FIELDS = ("path", "size_bytes", "mtime_ns")


@dataclass(frozen=True, slots=True, kw_only=True)
class PicklePermission:
    """One file the user allowed to be read as a pickle: where it is and what it was then."""

    path: str
    size_bytes: int
    mtime_ns: int


def file_stamp(path: str | os.PathLike[str]) -> PicklePermission:
    """The permission that would allow `path` as it is now; OSError when it cannot be read."""
    resolved = Path(path).expanduser().resolve(strict=True)
    info = resolved.stat()
    return PicklePermission(path=str(resolved), size_bytes=info.st_size, mtime_ns=info.st_mtime_ns)


def _stamp_or_none(path: str | os.PathLike[str]) -> PicklePermission | None:
    try:
        return file_stamp(path)
    except (OSError, RuntimeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class PicklePermissions:
    """The set of pickle files the user allowed, each for that file's current contents only."""

    entries: tuple[PicklePermission, ...] = ()

    def allows(self, path: str | os.PathLike[str]) -> bool:
        """Whether `path` is allowed as it is now (same resolved path, size and mtime)."""
        stamp = _stamp_or_none(path)
        return stamp is not None and stamp in self.entries

    def allowing(self, path: str | os.PathLike[str]) -> PicklePermissions:
        """These permissions with `path` allowed as it is now (replacing an older stamp of it)."""
        stamp = file_stamp(path)
        kept = tuple(e for e in self.entries if e.path != stamp.path)
        return PicklePermissions((*kept, stamp)[-MAX_PERMISSIONS:])

    def without(self, path: str | os.PathLike[str]) -> PicklePermissions:
        resolved = str(Path(path).expanduser().resolve())
        return PicklePermissions(tuple(e for e in self.entries if e.path != resolved))

    def applied_to(self, ref: ModelRef) -> ModelRef:
        """`ref` with `allow_pickle` set when it names a single file allowed now; other
        references are returned as they are (an opt-in never reaches a folder or hub id)."""
        if ref.source is not ModelSource.file or not self.allows(ref.location):
            return ref
        return replace(ref, allow_pickle=True)

    def to_json(self) -> list[dict[str, Any]]:
        return [{name: getattr(e, name) for name in _FIELDS} for e in self.entries]

    @classmethod
    def from_json(cls, data: Any) -> PicklePermissions:
        """Permissions from parsed JSON; ValueError in one sentence when any entry is unusable
        (then none is kept, so the user is asked again rather than trusted by mistake)."""
        if not isinstance(data, list):
            raise ValueError("it is not a list of files")
        if len(data) > MAX_PERMISSIONS:
            raise ValueError(f"it lists more than {MAX_PERMISSIONS} files")
        return cls(tuple(_entry(item) for item in data))


def _entry(item: Any) -> PicklePermission:
    if not isinstance(item, dict) or set(item) != set(_FIELDS):
        raise ValueError(f"an entry is not an object of {', '.join(_FIELDS)}")
    path, size, mtime = (item[name] for name in _FIELDS)
    if not isinstance(path, str) or not path or "\x00" in path or not os.path.isabs(path):
        raise ValueError("an entry's path is not an absolute path")
    for value in (size, mtime):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError("an entry's size or time is not a whole number")
    return PicklePermission(path=path, size_bytes=size, mtime_ns=mtime)
