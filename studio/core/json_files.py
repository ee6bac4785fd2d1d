"""Reading JSON that users and other tools wrote, with bounds: never a crash, never a hang.

Python's `json` accepts NaN and Infinity, turns 1e999 into inf, raises a bare ValueError for
integers of more than 4300 digits and RecursionError for deep nesting. `parse_json` refuses
all of these with a `JsonFileError` whose message completes "... could not be used because"
(e.g. "it is nested too deeply"), so every loader can say what was wrong in one sentence.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from studio.core.wording import is_unicode

MAX_DEPTH = 64
MAX_INT_DIGITS = 40
DEFAULT_MAX_BYTES = 1_000_000


class JsonFileError(ValueError):
    """A JSON text that cannot be used; the message says why, as "it ..." (no full stop)."""


def _reject_constant(name: str) -> Any:
    raise JsonFileError(f"it holds the non-standard number {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonFileError(f"it holds the out-of-range number {text[:20]}")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise JsonFileError(f"it holds a number with {len(text)} digits")
    return int(text)


def _check_tree(value: Any) -> None:
    """Refuse nesting deeper than MAX_DEPTH and text that is not valid Unicode (a lone
    surrogate such as "\\ud800" could never be written back), without recursion."""
    stack = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, str):
            _check_text(item)
            continue
        if isinstance(item, dict):
            for key in item:
                _check_text(key)
            item = list(item.values())
        elif not isinstance(item, list):
            continue
        if level >= MAX_DEPTH:
            raise JsonFileError("it is nested too deeply")
        stack.extend((child, level + 1) for child in item)


def _check_text(text: str) -> None:
    if not is_unicode(text):
        raise JsonFileError("it holds text that is not valid Unicode")


def parse_json(raw: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """The value of a JSON text of at most `max_bytes` (a UTF-8 byte-order mark is allowed),
    nested at most MAX_DEPTH deep, with only finite numbers and valid Unicode text;
    JsonFileError otherwise."""
    if len(raw) > max_bytes:
        raise JsonFileError(f"it is larger than {max_bytes // 1000} kB")
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw.removeprefix("\ufeff")
        value = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except UnicodeDecodeError:
        raise JsonFileError("it is not UTF-8 text") from None
    except RecursionError:
        raise JsonFileError("it is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise JsonFileError(f"it is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    _check_tree(value)
    return value


def read_json(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """`parse_json` of a file; OSError when it cannot be read (FileNotFoundError included)."""
    source = Path(path)
    with source.open("rb") as handle:
        raw = handle.read(max_bytes + 1)
    return parse_json(raw, max_bytes=max_bytes)
