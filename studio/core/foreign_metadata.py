"""What the readers of other tools' PNG metadata share: bounded JSON, and a collector that maps
values onto `GenerationParams` and lists, one sentence each, what it could not map.

Nothing is guessed: a value of the wrong type, or a setting Studio has no counterpart for, is
listed in `ParsedParameters.unmapped` and the field keeps Studio's default. Text that is too
long, nested too deep, not JSON, or (ComfyUI) a graph with a cycle is refused with a
`GraphError`, a `MetadataError`, in one sentence.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from studio.core.metadata import MetadataError, ParsedParameters
from studio.core.params import GenerationParams, ScheduleOptions, Sigmas, problems
from studio.core.samplers import find_sampler
from studio.core.wording import is_unicode, shown

MAX_GRAPH_CHARS = 2 * 1024 * 1024
MAX_JSON_DEPTH = 64
MAX_LISTED = 24  # unmapped lines kept; the rest are counted in one more line
_MAX_SEED = 2**64 - 1  # ComfyUI's seeds reach 0xffffffffffffffff
_FAR = 2**31 - 1
_DEFAULTS = GenerationParams()


class GraphError(MetadataError):
    """Another tool's metadata refused as malformed or hostile, in one sentence."""


def load_json(text: object, label: str) -> Any:
    """The JSON value of `text` (the `label` chunk); GraphError when it is too long, too deep,
    or not JSON."""
    if not isinstance(text, str):
        raise GraphError(f"The {label} must be text, not {type(text).__name__}.")
    if len(text) > MAX_GRAPH_CHARS:
        raise GraphError(
            f"The {label} has {len(text):,} characters, more than the {MAX_GRAPH_CHARS:,} allowed."
        )
    try:
        value = json.loads(text)
    except RecursionError:
        raise GraphError(f"The {label} is nested too deeply to read.") from None
    except json.JSONDecodeError as exc:
        raise GraphError(
            f"The {label} is not valid JSON: {exc.msg} at character {exc.pos}."
        ) from None
    except ValueError:  # an integer of more than 4300 digits
        raise GraphError(f"The {label} holds a number too long to read.") from None
    _check_depth(value, label)
    return value


def _check_depth(value: Any, label: str) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise GraphError(f"The {label} is nested more than {MAX_JSON_DEPTH} levels deep.")
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def plain_text(value: object) -> str | None:
    """`value` when it is text a prompt can hold (no NUL, no lone surrogate), else None."""
    if isinstance(value, str) and "\x00" not in value and is_unicode(value):
        return value
    return None


def whole_number(value: object, low: int, high: int) -> int | None:
    """`value` when it is a whole number (1.0 counts) between `low` and `high`, else None."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    return None


def finite_number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            return None
        return number if math.isfinite(number) else None
    return None


@dataclass(slots=True)
class Collector:
    """The fields read so far from one tool's metadata, and what could not be mapped."""

    source: str
    fields: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    unmapped: list[str] = field(default_factory=list)

    def miss(self, sentence: str) -> None:
        self.unmapped.append(sentence)

    def text(self, name: str, label: str, value: object) -> None:
        if value is None:
            return
        text = plain_text(value)
        if text is None:
            self.miss(f"The {label} {shown(value)} is not plain text.")
        else:
            self.fields[name] = text

    def integer(self, name: str, label: str, value: object) -> None:
        if value is None:
            return
        high = _MAX_SEED if name == "seed" else _FAR
        number = whole_number(value, -_FAR if name != "seed" else 0, high)
        if number is None:
            self.miss(f"The {label} {shown(value)} is not a usable whole number.")
        else:
            self.fields[name] = number

    def number(self, name: str, label: str, value: object) -> None:
        if value is None:
            return
        number = finite_number(value)
        if number is None:
            self.miss(f"The {label} {shown(value)} is not a finite number.")
        else:
            self.fields[name] = number

    def sampler(self, base: str, sigmas: Sigmas) -> None:
        """Our sampler `base` with `sigmas`, as one catalogue name when there is one
        ("DPM++ 2M" + Karras is "DPM++ 2M Karras")."""
        combined = find_sampler(f"{base} {sigmas.value}") if sigmas != Sigmas.default else None
        if combined is not None:
            base, sigmas = combined.name, Sigmas.default
        self.fields["sampler"] = base
        self.fields["schedule"] = ScheduleOptions(sigmas=sigmas)

    def result(self) -> ParsedParameters:
        params = GenerationParams(**self.fields)
        known = find_sampler(params.sampler) is not None
        warnings = problems(params if known else params.with_(sampler=_DEFAULTS.sampler))
        listed = list(dict.fromkeys(self.unmapped))
        if len(listed) > MAX_LISTED:
            listed = [*listed[:MAX_LISTED], f"…and {len(listed) - MAX_LISTED} more."]
        return ParsedParameters(
            params=params,
            model=self.model,
            warnings=tuple(dict.fromkeys(warnings)),
            source=self.source,
            unmapped=tuple(listed),
        )
