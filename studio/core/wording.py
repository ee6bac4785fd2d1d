"""Text for people and files: values quoted short in messages, and text that can be written."""

from __future__ import annotations

SHOWN_CHARS = 40


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """`repr(value)`, cut to `limit` characters with an ellipsis, so that a message quoting a
    5,000-character string or a huge list stays one readable sentence."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # deep nesting; an int of more than 4300 digits
        text = f"<a very large {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_unicode(text: str) -> bool:
    """False for text holding a lone surrogate (such as "\\ud800"), which no file can hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
