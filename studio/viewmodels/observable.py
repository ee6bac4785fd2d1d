"""Observable attributes for view-models: a typed descriptor that emits its change signal."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Generic, Self, TypeVar, overload

T = TypeVar("T")

_UNSET = object()


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, float) and isinstance(new, float) and math.isnan(old) and math.isnan(new):
        return True
    return type(old) is type(new) and old == new


def signal_name(attribute: str) -> str:
    """The change signal of an attribute: `num_inference_steps` -> `numInferenceStepsChanged`."""
    head, *rest = attribute.split("_")
    return head + "".join(word.capitalize() for word in rest) + "Changed"


class Observable(Generic[T]):
    """An attribute kept in `self._<name>`; a new value emits `self.<name>Changed` (camel case,
    see `signal_name`) and calls `self._changed(name)`.

    Assigning an equal value does nothing, so widgets bound both ways never loop. `coerce`
    converts (and may reject with ValueError) the assigned value first; its result type is the
    attribute's type. Without `coerce`, give the type: `sampler: Observable[str] = Observable()`.
    """

    def __init__(self, coerce: Callable[[Any], T] | None = None) -> None:
        self._coerce = coerce
        self.name = ""
        self.signal = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name, self.signal = name, signal_name(name)
        if not hasattr(owner, self.signal):
            raise TypeError(f"{owner.__name__}.{name} is observable but has no {self.signal}")
        self.__doc__ = f"Observable {name}; emits {self.signal} when it changes."

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> Self: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> T | Self:
        if instance is None:
            return self
        return getattr(instance, f"_{self.name}")

    def __set__(self, instance: Any, value: T) -> None:
        if self._coerce is not None:
            value = self._coerce(value)
        if _same(getattr(instance, f"_{self.name}", _UNSET), value):
            return
        setattr(instance, f"_{self.name}", value)
        getattr(instance, self.signal).emit(value)
        instance._changed(self.name)
