"""What may cross the wire: the registry of types, the receiver's limits, and the error.

The decoder builds nothing outside these tables: a dataclass by its tag (its class name), an
enum by its value, and each field by the type hint its class declares. At import the registry
checks that it is closed: every type a message can reach is listed, and every field's hint has
a shape the codec knows (None, bool, int, float, str, an enum, a listed dataclass, a tuple, a
union of these, or a numpy image array).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum

import numpy as np

from studio.core.commands import Cancel, Configure, LoadModel, Shutdown, Submit
from studio.core.convergence import ConvergencePoint, ConvergenceSpec, StudentCurve
from studio.core.engine_options import Device, EngineOptions, Offload
from studio.core.events import (
    CompareFinished,
    ConvergencePointReady,
    DownloadProgress,
    EngineConfigured,
    EngineStatus,
    EngineStopped,
    GridCellFinished,
    JobCancelled,
    JobFailed,
    JobFinished,
    JobProgress,
    JobQueued,
    JobStarted,
    LaneFinished,
    ModelLoaded,
    PrepareProgress,
    PreviewReady,
    StepProgress,
    Timings,
)
from studio.core.grid import Axis, AxisName, GridSpec, LaneChoice
from studio.core.jobs import (
    CompareJob,
    ConvergeJob,
    GenerateJob,
    GridJob,
    Lane,
    LaneSpec,
    PreviewDecoder,
    PreviewOptions,
)
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams, ScheduleOptions, Sigmas, Spacing
from studio.core.skip_tuning import SkipTuning
from studio.core.student_refs import AdapterKind, AdapterRef, StudentRef, StudentSampling
from studio.core.wire_control import PreviewTaken

COMMAND_TYPES: tuple[type, ...] = (Submit, Cancel, LoadModel, Configure, Shutdown)
EVENT_TYPES: tuple[type, ...] = (
    JobQueued,
    JobStarted,
    ModelLoaded,
    DownloadProgress,
    StepProgress,
    PrepareProgress,
    PreviewReady,
    LaneFinished,
    CompareFinished,
    JobProgress,
    GridCellFinished,
    ConvergencePointReady,
    JobFinished,
    JobCancelled,
    JobFailed,
    EngineConfigured,
    EngineStatus,
    EngineStopped,
)
CONTROL_TYPES: tuple[type, ...] = (PreviewTaken,)
"""Transport control messages (the process engine's preview credits), not UI commands."""
MESSAGE_TYPES = COMMAND_TYPES + EVENT_TYPES + CONTROL_TYPES
VALUE_TYPES: tuple[type, ...] = (
    GenerateJob,
    CompareJob,
    GridJob,
    ConvergeJob,
    LaneSpec,
    PreviewOptions,
    ModelRef,
    StudentRef,
    AdapterRef,
    StudentSampling,
    GenerationParams,
    ScheduleOptions,
    SkipTuning,
    EngineOptions,
    GridSpec,
    Axis,
    LaneChoice,
    ConvergenceSpec,
    StudentCurve,
    ConvergencePoint,
    Timings,
)
ENUM_TYPES: tuple[type[Enum], ...] = (
    Lane,
    ModelSource,
    AdapterKind,
    Sigmas,
    Spacing,
    Device,
    Offload,
    AxisName,
    PreviewDecoder,
)
NON_FINITE_FIELDS: Mapping[type, frozenset[str]] = {
    CompareFinished: frozenset({"speedup", "psnr", "ssim"}),
    ConvergencePoint: frozenset({"psnr", "agreement"}),
}
"""The float fields that may hold NaN or infinity (inf PSNR for identical images, NaN when
the lanes' sizes differ); every other float on the wire must be finite."""

SCALARS = (type(None), bool, int, float, str)


class WireError(ValueError):
    """A message or frame that cannot cross the wire; the text is one sentence saying why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WireLimits:
    """What a receiver accepts: bytes per frame and header, nesting, text, lists, images.

    The defaults fit the largest legitimate message (a finished batch of 16 images of
    2048x2048) with room to spare; a socket facing the network may pass tighter ones.
    """

    max_frame_bytes: int = 256 << 20
    max_header_bytes: int = 4 << 20
    max_depth: int = 32
    max_string_chars: int = 1 << 18
    max_items: int = 4096
    max_arrays: int = 64
    max_array_bytes: int = 64 << 20
    max_image_side: int = 8192


DEFAULT_LIMITS = WireLimits()


@dataclass(frozen=True, slots=True)
class WireType:
    """One dataclass the wire may carry: its tag, class, and each field's type hint."""

    tag: str
    cls: type
    hints: Mapping[str, object]
    non_finite: frozenset[str]


def members(hint: object) -> tuple[object, ...]:
    """The alternatives of a union hint, or the hint alone."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def is_tuple_hint(hint: object) -> bool:
    return typing.get_origin(hint) is tuple


def tuple_items(hint: object) -> tuple[object, ...]:
    """The item hints of `tuple[X, ...]` (one, then Ellipsis) or `tuple[X, Y]` (each)."""
    return typing.get_args(hint)


def _wire_type(cls: type) -> WireType:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    return WireType(
        tag=cls.__name__,
        cls=cls,
        hints={name: hints[name] for name in names},
        non_finite=NON_FINITE_FIELDS.get(cls, frozenset()),
    )


def _inner_hints(hint: object) -> Iterator[object]:
    for member in members(hint):
        if is_tuple_hint(member):
            yield from (item for item in tuple_items(member) if item is not Ellipsis)
        else:
            yield member


def _check_hint(owner: str, hint: object, known: Mapping[type, WireType]) -> Iterator[object]:
    """Raise TypeError for a hint the codec cannot carry; yield the hints nested in it."""
    for inner in _inner_hints(hint):
        if is_tuple_hint(inner) or typing.get_origin(inner) in (typing.Union, types.UnionType):
            yield inner
        elif isinstance(inner, type) and issubclass(inner, Enum):
            if inner not in ENUM_TYPES:
                raise TypeError(f"{owner} holds the enum {inner.__name__}, not in ENUM_TYPES.")
        elif isinstance(inner, type) and dataclasses.is_dataclass(inner):
            if inner not in known:
                raise TypeError(f"{owner} holds the dataclass {inner.__name__}, not registered.")
        elif inner not in (*SCALARS, np.ndarray):
            raise TypeError(f"{owner} has the hint {inner!r}, which the wire cannot carry.")


def _check_closed(known: Mapping[type, WireType]) -> None:
    for wire_type in known.values():
        for name, hint in wire_type.hints.items():
            pending = [hint]
            while pending:
                pending += _check_hint(f"{wire_type.tag}.{name}", pending.pop(), known)


def _build() -> tuple[dict[str, WireType], dict[type, WireType]]:
    by_class = {cls: _wire_type(cls) for cls in MESSAGE_TYPES + VALUE_TYPES}
    by_tag = {wire_type.tag: wire_type for wire_type in by_class.values()}
    if len(by_tag) != len(by_class):
        raise TypeError("Two wire types share a class name.")
    _check_closed(by_class)
    return by_tag, by_class


TYPES_BY_TAG, TYPES_BY_CLASS = _build()
