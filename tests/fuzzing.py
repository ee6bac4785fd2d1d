"""Shared hypothesis set-up for the input fuzzers: two profiles, a time bound, hostile JSON.

The default profile (`fast`) is derandomized with a modest number of examples, so the suite is
quick and the same on every run. `STUDIO_FUZZ=stress` (used by benchmarks/stress/fuzz_inputs.py)
runs many more random examples; `STUDIO_FUZZ_EXAMPLES` overrides the count of either profile.
"""

from __future__ import annotations

import json
import math
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

PROFILE = os.environ.get("STUDIO_FUZZ", "fast")
EXAMPLE_SECONDS = 5.0
WALL_SECONDS = 600.0
_COMMON: dict[str, Any] = {
    "database": None,
    "deadline": None,  # wall-clock; each property bounds its examples' CPU time with within()
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # qapp and the models-folder fixture are reusable
    ],
    "print_blob": True,
}
settings.register_profile("fast", max_examples=40, derandomize=True, **_COMMON)
settings.register_profile("stress", max_examples=2000, derandomize=False, **_COMMON)


def fuzz_settings(scale: float = 1.0) -> settings:
    """The active profile, with `scale` times its examples (expensive properties use less)."""
    base = settings.get_profile(PROFILE)
    wanted = int(os.environ.get("STUDIO_FUZZ_EXAMPLES", base.max_examples))
    return settings(base, max_examples=max(5, int(wanted * scale)))


class TookTooLong(AssertionError):
    """One example ran past its time bound: a hang, as far as the user can tell."""


@contextmanager
def within(
    cpu_seconds: float = EXAMPLE_SECONDS, wall_seconds: float = WALL_SECONDS
) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the block uses more than `cpu_seconds` of CPU
    (a busy loop), or waits more than `wall_seconds` (a blocking read). CPU time is the bound
    that matters: on a loaded machine the wall clock says little about the code."""

    def expire(signum: int, frame: object) -> None:
        kind = "CPU" if signum == signal.SIGPROF else "wall-clock"
        limit = cpu_seconds if signum == signal.SIGPROF else wall_seconds
        raise TookTooLong(f"took more than {limit} s of {kind} time")

    previous = {sig: signal.signal(sig, expire) for sig in (signal.SIGPROF, signal.SIGALRM)}
    signal.setitimer(signal.ITIMER_PROF, cpu_seconds)
    signal.setitimer(signal.ITIMER_REAL, wall_seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- hostile JSON ----------------------------------------------------------------------------

HUGE_INT = int("9" * 400)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([0, -1, 1, 2**31, 2**63, -(2**63), HUGE_INT, 8, 2048, 2049, 10**12])
    | st.floats()
    | st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 5e-324])
    | st.text(max_size=20)
    | st.sampled_from(["", "\x00", "\ud800", "NaN", "Infinity", "a/b", "..", "/abs", "x" * 5000])
)


def json_values(max_leaves: int = 30) -> st.SearchStrategy[Any]:
    """Any JSON-like value, including what `json` writes but other tools refuse (NaN, inf)."""
    return st.recursive(
        SCALARS,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
        max_leaves=max_leaves,
    )


def nested(depth: int) -> Any:
    value: Any = 1
    for index in range(depth):
        value = [value] if index % 2 else {"k": value}
    return value


HOSTILE_TEXTS = [
    "",
    "null",
    "[]",
    '"text"',
    "{",
    '{"a": NaN}',
    '{"a": Infinity, "b": -Infinity}',
    '{"a": 1e999}',
    '{"a": -1e999}',
    '{"a": ' + "9" * 5000 + "}",
    '{"a": 0.' + "1" * 5000 + "}",
    '{"a": 1, "a": 2}',
    "[" * 5000 + "]" * 5000,
    '{"a":' * 5000 + "1" + "}" * 5000,
    "[" * 900 + "]" * 900,
    "\ufeff{}",
    '{"a": "\\ud800"}',
    '{"\\u0000": "\\u0000"}',
]
HOSTILE_BYTES = [
    b"\xff\xfe{\x00}\x00",
    b'{"a": "\xc3\x28"}',
    b'{"a": "\xed\xa0\x80"}',
    b"\x00" * 64,
    b'{"presets": [' + b'{"name": "x"},' * 2000 + b"{}]}",
]


def json_texts(values: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Files a loader might meet: JSON of `values` (NaN, inf as written by Python), mangled
    JSON, hostile texts, and bad UTF-8."""
    dumped = values.map(
        lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")
    )
    return st.one_of(
        dumped,
        st.tuples(dumped, st.integers(0, 400), st.binary(max_size=4)).map(_splice),
        st.sampled_from(HOSTILE_TEXTS).map(lambda t: t.encode("utf-8")),
        st.sampled_from(HOSTILE_BYTES),
        st.binary(max_size=64),
    )


def _splice(parts: tuple[bytes, int, bytes]) -> bytes:
    data, at, junk = parts
    at = min(at, len(data))
    return data[:at] + junk + data[at + len(junk) :]


def mutate_dict(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """`base` with some fields replaced by hostile values, removed, or joined by strangers."""
    keys = sorted(base)
    if not keys:
        return st.dictionaries(st.text(max_size=8), json_values(6), max_size=3)
    replace = st.dictionaries(st.sampled_from(keys), json_values(10), max_size=4)
    drop = st.sets(st.sampled_from(keys), max_size=2)
    extra = st.dictionaries(st.text(max_size=8), json_values(4), max_size=2)
    return st.tuples(replace, drop, extra).map(
        lambda parts: {
            **{k: v for k, v in base.items() if k not in parts[1]},
            **parts[0],
            **parts[2],
        }
    )
