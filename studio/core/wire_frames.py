"""Wire frames: one message as bytes for a pipe or a socket, and reading them back, bounded.

A frame is a 16-byte prefix, a JSON header and a binary payload:

    magic  b"STWF"    4 bytes
    version           u16, big-endian (`PROTOCOL_VERSION`)
    flags             u16, reserved, 0
    header length     u32, bytes of UTF-8 JSON that follow the prefix
    payload length    u32, bytes of image data that follow the header

The header is {"message": tree, "arrays": [{"dtype": "uint8", "shape": [h, w, 3]}, ...]}
(the tree of `wire.to_tree`, its images referring to the arrays by index); the payload is the
arrays' raw bytes, one after the other. A receiver checks the prefix against its `WireLimits`
before it reads the rest, so a lying length costs it nothing.
"""

from __future__ import annotations

import json
import math
import socket
import struct
from typing import Any, Protocol

import numpy as np

from studio.core.wire import PROTOCOL_VERSION, Message, from_tree, to_tree
from studio.core.wire_images import IMAGE_DTYPE, image_shape, readonly_image
from studio.core.wire_types import DEFAULT_LIMITS, WireError, WireLimits

MAGIC = b"STWF"
PREFIX = struct.Struct(">4sHHII")
READ_CHUNK = 1 << 20
HEADER_KEYS = frozenset({"message", "arrays"})


class ByteReader(Protocol):
    def read(self, size: int, /) -> bytes | None: ...


class ByteWriter(Protocol):
    def write(self, data: bytes, /) -> int | None: ...


def encode(message: Message) -> bytes:
    """The message as one frame; WireError when it holds what the wire cannot carry."""
    arrays: list[np.ndarray] = []
    tree = to_tree(message, arrays)
    specs = [{"dtype": IMAGE_DTYPE, "shape": list(array.shape)} for array in arrays]
    document = {"message": tree, "arrays": specs}
    header = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    header_bytes = header.encode("utf-8")
    payload = [np.ascontiguousarray(array).data.cast("B") for array in arrays]
    size = sum(len(part) for part in payload)
    _check_sizes(len(header_bytes), size, DEFAULT_LIMITS)
    prefix = PREFIX.pack(MAGIC, PROTOCOL_VERSION, 0, len(header_bytes), size)
    return b"".join([prefix, header_bytes, *payload])


def decode(frame: bytes | bytearray | memoryview, limits: WireLimits = DEFAULT_LIMITS) -> Message:
    """The message of exactly one frame; WireError when it is not a valid one."""
    view = memoryview(frame).cast("B")
    if len(view) < PREFIX.size:
        raise WireError(f"The frame is truncated: {len(view)} bytes, shorter than its prefix.")
    header_size, payload_size = parse_prefix(bytes(view[: PREFIX.size]), limits)
    expected = PREFIX.size + header_size + payload_size
    if len(view) != expected:
        raise WireError(
            f"The frame is {len(view)} bytes long, but its prefix announces {expected}."
        )
    return decode_body(view[PREFIX.size :], header_size, limits)


def parse_prefix(prefix: bytes, limits: WireLimits = DEFAULT_LIMITS) -> tuple[int, int]:
    """The header and payload sizes a frame prefix announces, checked against the limits."""
    magic, version, flags, header_size, payload_size = PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise WireError(f"The frame starts with {magic!r}, not the wire's magic {MAGIC!r}.")
    if version != PROTOCOL_VERSION:
        raise WireError(f"The frame has protocol version {version}, not {PROTOCOL_VERSION}.")
    if flags:
        raise WireError(f"The frame sets the reserved flags {flags:#06x}.")
    _check_sizes(header_size, payload_size, limits)
    return header_size, payload_size


def _check_sizes(header_size: int, payload_size: int, limits: WireLimits) -> None:
    if header_size > limits.max_header_bytes:
        raise WireError(
            f"The frame header is {header_size} bytes, past the limit of {limits.max_header_bytes}."
        )
    total = PREFIX.size + header_size + payload_size
    if total > limits.max_frame_bytes:
        raise WireError(f"The frame is {total} bytes, past the limit of {limits.max_frame_bytes}.")


def decode_body(body: memoryview, header_size: int, limits: WireLimits) -> Message:
    """The message of a frame's header and payload (the bytes after the prefix)."""
    document = _parse_header(bytes(body[:header_size]))
    arrays = _attachments(document["arrays"], body[header_size:], limits)
    return from_tree(document["message"], limits, arrays)


def _parse_header(data: bytes) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise WireError("The frame header is not valid UTF-8.") from None
    try:
        document = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except WireError:
        raise
    except RecursionError:
        raise WireError("The frame header is nested too deeply to read.") from None
    except ValueError as exc:
        raise WireError(f"The frame header is not valid JSON ({_first_line(exc)}).") from None
    if not isinstance(document, dict) or document.keys() != HEADER_KEYS:
        raise WireError("The frame header must be an object with only a message and arrays.")
    return document


def _first_line(exc: Exception) -> str:
    return str(exc).split("\n", 1)[0].rstrip(".")[:80]


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise WireError("The frame header names a key twice in one object.")
    return document


def _no_constant(name: str) -> Any:
    raise WireError(f"The frame header holds {name}, which JSON does not allow.")


def _attachments(specs: object, payload: memoryview, limits: WireLimits) -> list[np.ndarray]:
    if not isinstance(specs, list) or len(specs) > limits.max_arrays:
        raise WireError(f"The frame's arrays must be a list of at most {limits.max_arrays}.")
    arrays, offset = [], 0
    for index, spec in enumerate(specs):
        if not isinstance(spec, dict) or spec.keys() != {"dtype", "shape"}:
            raise WireError(f"The frame's array {index} must give only its dtype and shape.")
        shape = image_shape(spec["dtype"], spec["shape"], limits, f"attachment {index}")
        end = offset + math.prod(shape)
        if end > len(payload):
            raise WireError(f"The frame's payload ends inside array {index}.")
        arrays.append(readonly_image(payload[offset:end], shape))
        offset = end
    if offset != len(payload):
        raise WireError(f"The frame's payload has {len(payload) - offset} bytes past its arrays.")
    return arrays


def write_frame(stream: ByteWriter | socket.socket, message: Message) -> None:
    """Write the message as one frame to a binary stream or a socket."""
    frame = encode(message)
    if isinstance(stream, socket.socket):
        stream.sendall(frame)
        return
    view = memoryview(frame)
    while view:
        written = stream.write(view)  # type: ignore[arg-type]
        if not written:
            raise OSError("The stream took no bytes of the frame.")
        view = view[written:]
    flush = getattr(stream, "flush", None)
    if flush is not None:
        flush()


def read_frame(
    stream: ByteReader | socket.socket, limits: WireLimits = DEFAULT_LIMITS
) -> Message | None:
    """The next message from a binary stream or a socket; None at a clean end of the stream
    (between frames); WireError for a bad or truncated frame. It never reads past the frame,
    nor more than the limits allow."""
    read = stream.recv if isinstance(stream, socket.socket) else stream.read
    prefix = _read_exactly(read, PREFIX.size)
    if not prefix:
        return None
    if len(prefix) < PREFIX.size:
        raise WireError(f"The stream ended inside a frame prefix, after {len(prefix)} bytes.")
    header_size, payload_size = parse_prefix(bytes(prefix), limits)
    body = _read_exactly(read, header_size + payload_size)
    if len(body) < header_size + payload_size:
        raise WireError(
            f"The stream ended inside a frame, after {len(body)} of its "
            f"{header_size + payload_size} bytes."
        )
    return decode_body(memoryview(body), header_size, limits)


def _read_exactly(read: Any, size: int) -> bytearray:
    """Up to `size` bytes, fewer only at the end of the stream; read in bounded chunks."""
    data = bytearray()
    while len(data) < size:
        chunk = read(min(size - len(data), READ_CHUNK))
        if not chunk:
            break
        data += chunk
    return data
