"""Images on the wire: the one array shape allowed (read-only uint8 HxWx3), checked against the
limits, and its inline JSON form (dtype, shape and base64 bytes) for the JSON-only codec."""

from __future__ import annotations

import base64
import binascii
import math

import numpy as np

from studio.core.wire_types import WireError, WireLimits
from studio.core.wording import shown

IMAGE_DTYPE = "uint8"
CHANNELS = 3
INLINE_KEYS = frozenset({"dtype", "shape", "base64"})


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def image_shape(dtype: object, shape: object, limits: WireLimits, where: str) -> tuple[int, ...]:
    """The shape of a valid image (uint8, HxWx3 within the limits), or WireError."""
    if dtype != IMAGE_DTYPE:
        raise WireError(f"The image at {where} has the dtype {shown(dtype)}, not uint8.")
    sides = tuple(shape) if isinstance(shape, list | tuple) else ()
    valid = len(sides) == 3 and sides[2] == CHANNELS and _is_int(sides[2])
    if not valid or not all(_is_int(s) and 1 <= s <= limits.max_image_side for s in sides[:2]):
        raise WireError(
            f"The image at {where} has the shape {shown(shape)}, not height x width x 3 "
            f"with sides of 1 to {limits.max_image_side}."
        )
    if math.prod(sides) > limits.max_array_bytes:
        raise WireError(f"The image at {where} is larger than {limits.max_array_bytes} bytes.")
    return sides


def readonly_image(buffer: bytes | bytearray | memoryview, shape: tuple[int, ...]) -> np.ndarray:
    """A read-only uint8 array of `shape` over `buffer`, without a copy."""
    array = np.frombuffer(buffer, dtype=np.uint8).reshape(shape)
    array.flags.writeable = False
    return array


def inline_image(array: np.ndarray) -> dict[str, object]:
    """An image's inline JSON form; its shape must have been checked."""
    data = base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")
    return {"dtype": IMAGE_DTYPE, "shape": list(array.shape), "base64": data}


def image_from_inline(ref: object, limits: WireLimits, where: str) -> np.ndarray:
    """The image of an inline JSON form, or WireError saying what is wrong with it."""
    if not isinstance(ref, dict) or ref.keys() != INLINE_KEYS:
        raise WireError(f"The image at {where} must give only its dtype, shape and base64 bytes.")
    shape = image_shape(ref["dtype"], ref["shape"], limits, where)
    text = ref["base64"]
    if not isinstance(text, str) or len(text) > 4 * (math.prod(shape) // 3 + 1):
        raise WireError(f"The image at {where} must carry its bytes as base64 text of its size.")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise WireError(f"The image at {where} holds text that is not base64.") from None
    if len(raw) != math.prod(shape):
        raise WireError(f"The image at {where} holds {len(raw)} bytes, not {math.prod(shape)}.")
    return readonly_image(raw, shape)
