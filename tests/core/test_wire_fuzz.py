"""Fuzzing the wire codec: random bytes, valid frames cut at every point or with a byte flipped,
lying lengths, wrong versions, bad UTF-8, deep nesting, huge text and mutated message trees.

Whatever arrives, the receiver gets a valid message or a `WireError` of one sentence, never
another exception, in bounded time; and what it accepts can be sent again.
"""

from __future__ import annotations

import io
import json
import math
import struct
from typing import Any

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from studio.core.events import EngineStatus, EngineStopped, PreviewReady, StepProgress
from studio.core.jobs import Lane
from studio.core.wire import (
    DEFAULT_LIMITS,
    PROTOCOL_VERSION,
    Message,
    WireError,
    WireLimits,
    from_json_dict,
    to_json_dict,
)
from studio.core.wire_frames import MAGIC, PREFIX, READ_CHUNK, decode, encode, read_frame
from studio.core.wording import is_unicode
from tests.core.test_wire import MESSAGES, assert_same, frame_of, one_sentence, tree_of
from tests.fuzzing import HOSTILE_TEXTS, fuzz_settings, json_values, mutate_dict, nested, within

FRAMES = [encode(message) for message in MESSAGES]
SMALL_FRAMES = [frame for frame in FRAMES if len(frame) < 4000]
TREES = [tree_of(message) for message in MESSAGES]


def received(data: bytes, limits: WireLimits = DEFAULT_LIMITS) -> Message | None:
    """The message `data` decodes to, or None when it was refused in one sentence; what was
    accepted must encode again."""
    try:
        with within(cpu_seconds=5):
            message = decode(data, limits)
    except WireError as error:
        one_sentence(error)
        return None
    encode(message)
    return message


def received_json(document: Any) -> Message | None:
    try:
        with within(cpu_seconds=5):
            message = from_json_dict(document)
    except WireError as error:
        one_sentence(error)
        return None
    json.dumps(to_json_dict(message), allow_nan=False)
    return message


def header_of(frame: bytes) -> bytes:
    _, _, _, header_size, _ = PREFIX.unpack(frame[: PREFIX.size])
    return frame[PREFIX.size : PREFIX.size + header_size]


@fuzz_settings()
@given(st.binary(max_size=512))
@example(b"")
@example(MAGIC)
def test_random_bytes_are_refused_in_one_sentence(data: bytes) -> None:
    received(data)
    received(PREFIX.pack(MAGIC, PROTOCOL_VERSION, 0, len(data), 0) + data)


def test_a_valid_frame_cut_anywhere_is_refused() -> None:
    for frame in FRAMES:
        header_end = PREFIX.size + len(header_of(frame))
        cuts = range(len(frame)) if len(frame) < 4000 else [*range(header_end + 1), len(frame) - 1]
        for cut in cuts:
            assert received(frame[:cut]) is None
            try:
                read_frame(io.BytesIO(frame[:cut]))
            except WireError as error:
                one_sentence(error)
            else:
                assert cut == 0


def test_a_header_cut_anywhere_and_framed_again_is_refused() -> None:
    for frame in SMALL_FRAMES:
        header = header_of(frame)
        for cut in range(len(header)):
            assert received(frame_of(header[:cut])) is None


@fuzz_settings(2)
@given(st.sampled_from(SMALL_FRAMES), st.integers(0, 10**6), st.integers(1, 255))
def test_a_flipped_byte_gives_a_message_or_one_sentence(frame: bytes, at: int, bits: int) -> None:
    at %= len(frame)
    flipped = frame[:at] + bytes([frame[at] ^ bits]) + frame[at + 1 :]
    received(flipped)


class CountingReader:
    """A stream that says how much was asked of it, and holds only `data`."""

    def __init__(self, data: bytes) -> None:
        self.stream = io.BytesIO(data)
        self.asked = 0

    def read(self, size: int) -> bytes:
        assert 0 < size <= READ_CHUNK
        self.asked += size
        return self.stream.read(size)


@fuzz_settings()
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
@example(DEFAULT_LIMITS.max_header_bytes + 1, 0)
@example(0, DEFAULT_LIMITS.max_frame_bytes)
def test_lying_lengths_never_make_the_reader_read_past_the_limits(
    header: int, payload: int
) -> None:
    limits = WireLimits(max_frame_bytes=1 << 16, max_header_bytes=1 << 12)
    reader = CountingReader(PREFIX.pack(MAGIC, PROTOCOL_VERSION, 0, header, payload) + b"{}" * 64)
    try:
        read_frame(reader, limits)
    except WireError as error:
        one_sentence(error)
    assert reader.asked <= limits.max_frame_bytes


@fuzz_settings()
@given(st.integers(0, 2**16 - 1).filter(lambda v: v != PROTOCOL_VERSION))
def test_any_other_version_is_refused(version: int) -> None:
    frame = FRAMES[0]
    _, _, flags, header, payload = PREFIX.unpack(frame[: PREFIX.size])
    other = PREFIX.pack(MAGIC, version, flags, header, payload) + frame[PREFIX.size :]
    try:
        decode(other)
    except WireError as error:
        expected = f"The frame has protocol version {version}, not {PROTOCOL_VERSION}."
        assert one_sentence(error) == expected
    else:
        raise AssertionError("a frame of another version was accepted")
    document = {"version": version, "message": TREES[0]}
    assert received_json(document) is None


@fuzz_settings()
@given(
    st.sampled_from(SMALL_FRAMES),
    st.integers(0, 10**6),
    st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf"]),
)
def test_bad_utf8_in_a_header_is_refused(frame: bytes, at: int, junk: bytes) -> None:
    header = header_of(frame)
    at %= len(header)
    bad = header[:at] + junk + header[at:]
    assert received(frame_of(bad, frame[PREFIX.size + len(header) :])) is None


@fuzz_settings()
@given(st.sampled_from([2, 10, 33, 100, 1000, 10_000, 200_000]), st.booleans())
def test_deep_nesting_is_refused(depth: int, in_a_field: bool) -> None:
    deep = json.dumps(nested(depth)) if depth < 900 else "[" * depth + "]" * depth
    stopped = tree_of(EngineStopped())
    if in_a_field:
        text = json.dumps({"message": {**stopped, "reasons": "DEEP"}, "arrays": []})
    else:
        text = json.dumps({"message": "DEEP", "arrays": []})
    assert received(frame_of(text.replace('"DEEP"', deep).encode())) is None


@fuzz_settings()
@given(st.sampled_from(HOSTILE_TEXTS))
def test_hostile_json_headers_are_refused(text: str) -> None:
    assert received(frame_of(text.encode("utf-8", "surrogatepass"))) is None


@fuzz_settings()
@given(st.sampled_from([0, 1, 1 << 10, (1 << 18) - 1, 1 << 18, (1 << 18) + 1, 3 << 20, 5 << 20]))
def test_huge_text_is_refused_past_the_limits(size: int) -> None:
    tree = tree_of(EngineStatus(text=""))
    header = json.dumps({"message": {**tree, "text": "é" * size}, "arrays": []}).encode()
    message = received(frame_of(header))
    assert (message is not None) == (size <= DEFAULT_LIMITS.max_string_chars)


def _dicts(tree: Any) -> list[dict[str, Any]]:
    """Every JSON object in `tree`, outermost first."""
    found = []
    pending = [tree]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            found.append(value)
            pending += value.values()
        elif isinstance(value, list):
            pending += value
    return found


def _replace(tree: Any, old: dict[str, Any], new: dict[str, Any]) -> Any:
    if tree is old:
        return new
    if isinstance(tree, dict):
        return {key: _replace(value, old, new) for key, value in tree.items()}
    if isinstance(tree, list):
        return [_replace(value, old, new) for value in tree]
    return tree


@st.composite
def mutated_trees(draw: st.DrawFn) -> Any:
    """A message tree with one of its objects' fields replaced, dropped or joined by others."""
    tree = draw(st.sampled_from(TREES))
    target = draw(st.sampled_from(_dicts(tree)))
    return _replace(tree, target, draw(mutate_dict(target)))


@fuzz_settings(2)
@given(mutated_trees())
def test_mutated_trees_give_a_message_or_one_sentence(tree: Any) -> None:
    received_json({"version": PROTOCOL_VERSION, "message": tree})
    header = json.dumps({"message": tree, "arrays": []}, ensure_ascii=False)
    received(frame_of(header.encode("utf-8", "surrogatepass")))


@fuzz_settings()
@given(json_values())
def test_any_json_value_as_a_message_or_a_document(value: Any) -> None:
    received_json({"version": PROTOCOL_VERSION, "message": value})
    received_json(value)
    text = json.dumps({"message": value, "arrays": []}, ensure_ascii=False)
    received(frame_of(text.encode("utf-8", "surrogatepass")))


@fuzz_settings()
@given(
    st.text(max_size=40),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
)
def test_generated_events_round_trip_or_are_refused_when_sent(
    text: str, number: int, seconds: float
) -> None:
    for event in (
        EngineStatus(text=text),
        StepProgress(job_id=text, lane=Lane.main, step=number, total=1, elapsed_s=seconds),
    ):
        try:
            frame = encode(event)
        except WireError as error:
            one_sentence(error)
            assert not math.isfinite(seconds) or abs(number) >= 2**63 or not is_unicode(text)
            continue
        assert_same(event, decode(frame))


@fuzz_settings()
@given(st.integers(1, 70), st.integers(1, 70), st.binary(min_size=1, max_size=64))
def test_images_of_any_size_round_trip_byte_identical(height: int, width: int, seed: bytes) -> None:
    pixels = (seed * (height * width * 3 // len(seed) + 1))[: height * width * 3]
    array = struct.unpack(f"{len(pixels)}B", pixels)
    image = np.array(array, np.uint8).reshape(height, width, 3)
    event = PreviewReady(job_id="j", lane=Lane.main, step=1, total=1, x_t=image, x0=image)
    for got in (decode(encode(event)), from_json_dict(json.loads(json.dumps(to_json_dict(event))))):
        assert_same(event, got)
