"""Configured schedulers built once: `from_config` per (class, config, overrides), then copies.

diffusers' `from_config` inspects the class's signature several times and recomputes the beta
schedule in Python (a thousand-step loop for cosine betas, the zero-terminal-SNR rescale), which
costs about as much as a small model's whole 1-step image. A scheduler right after construction
is a pure function of its class and keyword arguments, so the first build is kept as a template
and every call gets a deep copy of it: a fresh, independent scheduler, equal to a new build.
"""

from __future__ import annotations

import copy
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

DEFAULT_ENTRIES = 32


class _Unkeyable(Exception):
    """A config value that cannot be part of a key; that build is not cached."""


def _frozen(value: Any) -> Any:
    """A hashable stand-in for a config value that tells apart what `==` would merge
    (True, 1 and 1.0; a list and a tuple)."""
    if value is None or isinstance(value, str | bool | int):
        return (type(value).__name__, value)
    if isinstance(value, float):
        if math.isnan(value):
            raise _Unkeyable
        return ("float", value)
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(_frozen(v) for v in value))
    if isinstance(value, Mapping):
        return ("mapping", tuple(sorted((str(k), _frozen(v)) for k, v in value.items())))
    raise _Unkeyable


class SchedulerCache:
    """A bounded LRU of scheduler templates keyed by class, config and overrides; hands out
    deep copies, and counts its hits and misses."""

    def __init__(self, capacity: int = DEFAULT_ENTRIES) -> None:
        self.capacity = max(0, capacity)
        self.hits = 0
        self.misses = 0
        self._templates: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._templates)

    def clear(self) -> None:
        with self._lock:
            self._templates.clear()

    def build(self, cls: Any, config: Mapping[str, Any], overrides: Mapping[str, Any]) -> Any:
        """`cls.from_config(config, **overrides)`, or a deep copy of the same build kept from
        an earlier call (a cache of capacity 0 builds every time)."""
        try:
            key = (cls, _frozen(dict(config)), _frozen(dict(overrides)))
        except _Unkeyable:
            return cls.from_config(config, **overrides)
        if self.capacity == 0:
            return cls.from_config(config, **overrides)
        with self._lock:
            template = self._templates.get(key)
            if template is not None:
                self._templates.move_to_end(key)
                self.hits += 1
        if template is None:
            template = cls.from_config(config, **overrides)
            self._store(key, template)
        return copy.deepcopy(template)

    def _store(self, key: tuple[Any, ...], template: Any) -> None:
        with self._lock:
            self.misses += 1
            self._templates[key] = template
            while len(self._templates) > self.capacity:
                self._templates.popitem(last=False)


SCHEDULERS = SchedulerCache()
"""The engine's scheduler templates, shared by every runner (a template holds no model state)."""
