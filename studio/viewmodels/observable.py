"""Observable attributes for view-models: a plain property that emits its change signal."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

_UNSET = object()


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, float) and isinstance(new, float) and math.isnan(old) and math.isnan(new):
        return True
    return type(old) is type(new) and old == new


def observable(name: str, signal: str, coerce: Callable[[Any], Any] | None = None) -> Any:
    """A property kept in `self._<name>`; a new value emits `self.<signal>` and `self._changed`.

    Assigning an equal value does nothing, so widgets bound both ways never loop. `coerce`
    converts (and may reject with ValueError) the assigned value first.
    """
    attr = f"_{name}"

    def get(self: Any) -> Any:
        return getattr(self, attr)

    def set_(self: Any, value: Any) -> None:
        if coerce is not None:
            value = coerce(value)
        if _same(getattr(self, attr, _UNSET), value):
            return
        setattr(self, attr, value)
        getattr(self, signal).emit(value)
        self._changed(name)

    return property(get, set_, doc=f"Observable {name}; emits {signal} when it changes.")
