"""Plain values in a preset file, each read and checked; `Bad` says what is wrong with one."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from typing import Any

from studio.core.models import ModelSource
from studio.core.student_refs import JsonScalar, Pairs, is_hub_id
from studio.core.wording import is_unicode, shown

MAX_TEXT_CHARS = 2000
PLAIN_SEGMENT = re.compile(r"^[\w][\w.+-]*$")


class Bad(ValueError):
    """One bad field value; the message is the sentence after the field's name."""


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def text(value: object, limit: int = MAX_TEXT_CHARS) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Bad(f"must be non-empty text, not {shown(value)}")
    if len(value) > limit or "\x00" in value or not is_unicode(value):
        raise Bad(f"must be at most {limit} characters of plain text")
    return value.strip()


def whole(value: object, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise Bad(f"must be a whole number from {low} to {high}, not {shown(value)}")
    return value


def number(value: object, low: float, high: float) -> float:
    try:
        number = float(value) if is_number(value) else None  # type: ignore[arg-type]
    except OverflowError:  # a whole number too large for a float
        number = None
    if number is None or not math.isfinite(number) or not low <= number <= high:
        raise Bad(f"must be a number from {low:g} to {high:g}, not {shown(value)}")
    return number


def location(value: object) -> tuple[str, ModelSource]:
    """A hub id (org/name) or an absolute local folder."""
    given = text(value)
    if is_hub_id(given):
        return given, ModelSource.hub
    if os.path.isabs(os.path.expanduser(given)):
        return given, ModelSource.folder
    raise Bad(
        f"must be a hub model id like 'org/name' or an absolute folder path, not {shown(given)}"
    )


def relative_file(value: object) -> str:
    given = text(value)
    parts = given.split("/")
    if not all(PLAIN_SEGMENT.match(part) and part not in {".", ".."} for part in parts):
        raise Bad(f"must be a plain file path inside the repository or folder, not {shown(given)}")
    return given


def scalar_pairs(value: object, allowed: frozenset[str] | None = None) -> Pairs:
    if not isinstance(value, dict):
        raise Bad(f"must be a JSON object, not {type(value).__name__}")
    pairs: list[tuple[str, JsonScalar]] = []
    for key, item in value.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise Bad(f"has the key {shown(key)}, which is not a plain name")
        if allowed is not None and key not in allowed:
            raise Bad(f"has {shown(key)}, which is not one of {', '.join(sorted(allowed))}")
        if not (item is None or isinstance(item, str | bool) or is_number(item)):
            raise Bad(
                f"gives {shown(key)} the value {shown(item)}: "
                "use text, a number, true/false or null"
            )
        if isinstance(item, float) and not math.isfinite(item):
            raise Bad(f"gives {shown(key)} a value that is not a finite number")
        pairs.append((key, item))
    return tuple(sorted(pairs))


def known_fields(value: Mapping[str, Any], known: frozenset[str]) -> None:
    unknown = sorted(k for k in value if k not in known)
    if unknown:
        raise Bad(f"has unknown keys {', '.join(map(repr, unknown))}")
