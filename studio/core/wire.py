"""The wire codec's values: commands and events as JSON trees, built back only from the registry.

A dataclass becomes a JSON object with its tag under "@type" and every field by name; an enum
its value; a tuple a list; a non-finite float {"@float": "nan" | "inf" | "-inf"} (only fields
listed in `wire_types.NON_FINITE_FIELDS` accept one); an image array either a reference to a
binary attachment of the frame ({"@array": index}) or, in the JSON-only form, its bytes inline
({"@array": {"dtype": "uint8", "shape": [h, w, 3], "base64": ...}}).

Decoding follows the type hints of the registered classes and refuses, with a `WireError` of
one sentence, anything else: unknown tags, unknown or missing fields, wrong types, and values
past the `WireLimits`. It never evaluates or imports anything named by the wire. Domain rules
(a sampler's name, a size's range) are left to the engine, which answers a job that breaks
them with JobFailed, as it does in process.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from enum import Enum
from typing import Any

import numpy as np

from studio.core.commands import Command
from studio.core.events import Event
from studio.core.wire_images import image_from_inline, image_shape, inline_image
from studio.core.wire_types import (
    DEFAULT_LIMITS,
    MESSAGE_TYPES,
    TYPES_BY_CLASS,
    TYPES_BY_TAG,
    WireError,
    WireLimits,
    is_tuple_hint,
    members,
    tuple_items,
)
from studio.core.wording import is_unicode, shown

PROTOCOL_VERSION = 3
MAX_INT = 2**63 - 1
NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}

Message = Command | Event
Tree = Any
__all__ = [
    "DEFAULT_LIMITS",
    "PROTOCOL_VERSION",
    "Message",
    "WireError",
    "WireLimits",
    "from_json_dict",
    "from_tree",
    "to_json_dict",
    "to_tree",
]


KIND_WORDS = {
    "null": "null",
    "bool": "true or false",
    "int": "a whole number",
    "float": "a number",
    "str": "text",
    "list": "a list",
    "object": "an object",
    "array": "an image array",
}
SCALAR_KINDS: dict[object, frozenset[str]] = {
    type(None): frozenset({"null"}),
    bool: frozenset({"bool"}),
    int: frozenset({"int"}),
    float: frozenset({"float", "int"}),
    str: frozenset({"str"}),
    np.ndarray: frozenset({"array"}),
}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_kind(data: object) -> str:
    if isinstance(data, dict):
        if "@float" in data:
            return "float"
        return "array" if "@array" in data else "object"
    for kind, cls in (("null", type(None)), ("bool", bool), ("int", int), ("float", float)):
        if isinstance(data, cls):
            return kind
    if isinstance(data, str):
        return "str"
    return "list" if isinstance(data, list) else "unknown"


def _accepts(hint: object, kind: str) -> bool:
    if hint in SCALAR_KINDS:
        return kind in SCALAR_KINDS[hint]
    if isinstance(hint, type) and issubclass(hint, Enum):
        return kind == "str"
    if is_tuple_hint(hint):
        return kind == "list"
    return kind == "object" and dataclasses.is_dataclass(hint)


def _hint_words(hint: object) -> str:
    if hint is type(None):
        return "null"
    if isinstance(hint, type) and issubclass(hint, Enum):
        return f"a {hint.__name__} value"
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return f"a {hint.__name__}"
    kinds = SCALAR_KINDS.get(hint, frozenset({"list"}))
    return KIND_WORDS[min(kinds)]


class _Encoder:
    """Turns a message into a tree; arrays go to `attachments`, or inline when it is None."""

    def __init__(self, limits: WireLimits, attachments: list[np.ndarray] | None) -> None:
        self.limits = limits
        self.attachments = attachments

    def value(self, value: object, path: str, finite: bool = True) -> Tree:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, Enum):
            return self._enum(value, path)
        if isinstance(value, str):
            return _checked_text(value, path, self.limits)
        if isinstance(value, int):
            return _checked_int(value, path)
        if isinstance(value, float):
            return _checked_float(value, path, finite)
        if isinstance(value, tuple | list):
            return [self.value(item, f"{path}[{i}]", finite) for i, item in enumerate(value)]
        if isinstance(value, np.ndarray):
            return self._array(value, path)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self.dataclass(value, path)
        raise WireError(f"{path} holds a {type(value).__name__}, which cannot cross the wire.")

    def dataclass(self, value: object, path: str) -> Tree:
        wire_type = TYPES_BY_CLASS.get(type(value))
        if wire_type is None:
            raise WireError(f"{path} holds a {type(value).__name__}, which is not a wire type.")
        tree = {"@type": wire_type.tag}
        for name in wire_type.hints:
            finite = name not in wire_type.non_finite
            tree[name] = self.value(getattr(value, name), f"{path}.{name}", finite)
        return tree

    def _enum(self, value: Enum, path: str) -> Tree:
        if not isinstance(value.value, str):
            raise WireError(f"{path} holds the enum {type(value).__name__}, not a text enum.")
        return value.value

    def _array(self, value: np.ndarray, path: str) -> Tree:
        image_shape(str(value.dtype), value.shape, self.limits, path)
        if self.attachments is None:
            return {"@array": inline_image(value)}
        self.attachments.append(value)
        return {"@array": len(self.attachments) - 1}


def _checked_float(value: float, path: str, finite: bool) -> Tree:
    if math.isfinite(value):
        return value
    name = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if finite:
        raise WireError(f"{path} must be a finite number, not {name}.")
    return {"@float": name}


def _checked_int(value: int, path: str) -> int:
    if not -MAX_INT - 1 <= value <= MAX_INT:
        raise WireError(f"The whole number at {path} is outside the 64-bit range.")
    return value


def _checked_text(value: str, path: str, limits: WireLimits) -> str:
    if len(value) > limits.max_string_chars:
        raise WireError(
            f"The text at {path} is {len(value)} characters long, past the wire's "
            f"{limits.max_string_chars}."
        )
    if not is_unicode(value):
        raise WireError(f"The text at {path} holds a lone surrogate, which is not Unicode.")
    return value


class _Decoder:
    """Builds a message from a tree by the registry's hints; arrays come from `attachments`,
    or inline (base64) when it is None."""

    def __init__(self, limits: WireLimits, attachments: Sequence[np.ndarray] | None) -> None:
        self.limits = limits
        self.attachments = attachments
        self.used: set[int] = set()

    def value(self, hint: object, data: Tree, path: str, depth: int, finite: bool = True) -> Any:
        if depth > self.limits.max_depth:
            raise WireError(f"{path} is nested deeper than {self.limits.max_depth} levels.")
        kind = _json_kind(data)
        options = members(hint)
        if kind == "object":
            classes = tuple(o for o in options if isinstance(o, type) and _accepts(o, kind))
            if classes:
                return self.dataclass(classes, data, path, depth)
        for option in options:
            if _accepts(option, kind):
                return self._one(option, data, path, depth, finite)
        wanted = " or ".join(_hint_words(option) for option in options)
        found = KIND_WORDS.get(kind, f"a {type(data).__name__}")
        raise WireError(f"{path} must be {wanted}, not {found}.")

    def _one(self, hint: object, data: Tree, path: str, depth: int, finite: bool) -> Any:
        if hint is float:
            return self._float(data, path, finite)
        if hint is int:
            return _checked_int(data, path)
        if hint is str:
            return _checked_text(data, path, self.limits)
        if hint is np.ndarray:
            return self._array(data, path)
        if isinstance(hint, type) and issubclass(hint, Enum):
            return self._enum(hint, data, path)
        if is_tuple_hint(hint):
            return self._tuple(hint, data, path, depth, finite)
        return data

    def _float(self, data: Tree, path: str, finite: bool) -> float:
        if isinstance(data, dict):
            name = data.get("@float")
            if len(data) != 1 or not isinstance(name, str) or name not in NON_FINITE:
                raise WireError(f"{path} must be {{'@float': 'nan', 'inf' or '-inf'}}.")
            if finite:
                raise WireError(f"{path} must be a finite number, not {name}.")
            return NON_FINITE[name]
        value = float(_checked_int(data, path)) if isinstance(data, int) else data
        if not math.isfinite(value):
            raise WireError(f"{path} must be a finite number.")
        return value

    def _enum(self, hint: type[Enum], data: str, path: str) -> Enum:
        try:
            return hint(data)
        except ValueError:
            choices = ", ".join(str(member.value) for member in hint)
            raise WireError(f"{path} must be one of {choices}, not {shown(data)}.") from None

    def _tuple(self, hint: object, data: list, path: str, depth: int, finite: bool) -> tuple:
        if len(data) > self.limits.max_items:
            limit = self.limits.max_items
            raise WireError(f"{path} has {len(data)} items, past the wire's {limit}.")
        items = tuple_items(hint)
        if len(items) == 2 and items[1] is Ellipsis:
            items = (items[0],) * len(data)
        elif len(items) != len(data):
            raise WireError(f"{path} must have {len(items)} items, not {len(data)}.")
        return tuple(
            self.value(item, value, f"{path}[{i}]", depth + 1, finite)
            for i, (item, value) in enumerate(zip(items, data, strict=True))
        )

    def dataclass(self, classes: tuple[type, ...], data: dict, path: str, depth: int) -> Any:
        """An instance of one of `classes` (or of a registered subclass) by the tree's tag."""
        tag = data.get("@type")
        wire_type = TYPES_BY_TAG.get(tag) if isinstance(tag, str) else None
        if wire_type is None:
            raise WireError(f"{path} has the unknown type tag {shown(tag)}.")
        if not issubclass(wire_type.cls, classes):
            wanted = " or ".join(f"a {cls.__name__}" for cls in classes)
            raise WireError(f"{path} must be {wanted}, not a {wire_type.tag}.")
        given = data.keys() - {"@type"}
        for extra in [name for name in given if name not in wire_type.hints][:1]:
            raise WireError(f"{path} has the unknown field {shown(extra)} for a {wire_type.tag}.")
        for missing in [name for name in wire_type.hints if name not in given][:1]:
            raise WireError(f"{path} lacks the field {missing!r} of a {wire_type.tag}.")
        values = {
            name: self.value(
                field_hint,
                data[name],
                f"{path}.{name}",
                depth + 1,
                name not in wire_type.non_finite,
            )
            for name, field_hint in wire_type.hints.items()
        }
        try:
            return wire_type.cls(**values)
        except (TypeError, ValueError) as exc:
            raise WireError(f"{path} could not be built as a {wire_type.tag}.") from exc

    def _array(self, data: dict, path: str) -> np.ndarray:
        if len(data) != 1:
            raise WireError(f"The image at {path} must hold only the key '@array'.")
        ref = data["@array"]
        if self.attachments is None:
            return image_from_inline(ref, self.limits, path)
        if not _is_int(ref) or not 0 <= ref < len(self.attachments) or ref in self.used:
            raise WireError(f"The image at {path} names no unused attachment of the frame.")
        self.used.add(ref)
        return self.attachments[ref]


def to_tree(message: Message, attachments: list[np.ndarray] | None = None) -> Tree:
    """The message as a JSON tree; arrays appended to `attachments`, or inline when None."""
    if type(message) not in MESSAGE_TYPES:
        raise WireError(f"A {type(message).__name__} is not a command or an event.")
    return _Encoder(DEFAULT_LIMITS, attachments).dataclass(message, type(message).__name__)


def from_tree(
    tree: Tree,
    limits: WireLimits = DEFAULT_LIMITS,
    attachments: Sequence[np.ndarray] | None = None,
) -> Message:
    """The message a tree describes, every attachment used once; WireError when it is not one."""
    if not isinstance(tree, dict):
        raise WireError("The message must be a JSON object.")
    tag = tree.get("@type")
    wire_type = TYPES_BY_TAG.get(tag) if isinstance(tag, str) else None
    if wire_type is None:
        raise WireError(f"The message has the unknown type tag {shown(tag)}.")
    if wire_type.cls not in MESSAGE_TYPES:
        raise WireError(f"A {wire_type.tag} is not a command or an event.")
    decoder = _Decoder(limits, attachments)
    message: Message = decoder.dataclass((wire_type.cls,), tree, wire_type.tag, 1)
    if attachments is not None and len(decoder.used) != len(attachments):
        raise WireError("The frame carries an image attachment no field uses.")
    return message


def to_json_dict(message: Message) -> dict[str, Any]:
    """The message in plain JSON (images inline as base64) with the protocol version."""
    return {"version": PROTOCOL_VERSION, "message": to_tree(message)}


def from_json_dict(document: object, limits: WireLimits = DEFAULT_LIMITS) -> Message:
    """The message of a `to_json_dict` document; WireError when it is not a valid one."""
    if not isinstance(document, dict) or document.keys() != {"version", "message"}:
        raise WireError("A wire document must be an object with only a version and a message.")
    version = document["version"]
    if version != PROTOCOL_VERSION or not _is_int(version):
        raise WireError(f"The wire version {shown(version)} is not {PROTOCOL_VERSION}.")
    return from_tree(document["message"], limits)
