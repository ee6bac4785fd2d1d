"""Image arrays for the widgets: the one place numpy arrays become QImages, plus pure-numpy helpers
for comparing two images (difference heatmap, swipe composite, nearest-neighbour resize)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

MAGMA_ANCHORS = np.array(
    [
        (0, 0, 4),
        (28, 16, 68),
        (79, 18, 123),
        (129, 37, 129),
        (181, 54, 122),
        (229, 80, 100),
        (251, 135, 97),
        (254, 194, 135),
        (252, 253, 191),
    ],
    dtype=np.float64,
)
MIN_AUTO_RANGE = 16.0


def _magma_table(size: int = 256) -> np.ndarray:
    positions = np.linspace(0.0, 1.0, len(MAGMA_ANCHORS))
    samples = np.linspace(0.0, 1.0, size)
    channels = [np.interp(samples, positions, MAGMA_ANCHORS[:, c]) for c in range(3)]
    return np.round(np.stack(channels, axis=1)).astype(np.uint8)


MAGMA = _magma_table()


def to_qimage(arr: np.ndarray) -> QImage:
    """An owned QImage copy of an HxWx3 (RGB) or HxW (grey) uint8 array."""
    if arr.dtype != np.uint8:
        raise ValueError(f"expected a uint8 array, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 3:
        fmt, channels = QImage.Format.Format_RGB888, 3
    elif arr.ndim == 2:
        fmt, channels = QImage.Format.Format_Grayscale8, 1
    else:
        raise ValueError(f"expected HxWx3 or HxW, got shape {arr.shape}")
    data = np.ascontiguousarray(arr)
    height, width = data.shape[:2]
    return QImage(data.data, width, height, channels * width, fmt).copy()


def as_rgb(arr: np.ndarray) -> np.ndarray:
    """The array as HxWx3: grey images are repeated over three channels."""
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim == 3 and arr.shape[2] == 3:
        return arr
    raise ValueError(f"expected HxWx3 or HxW, got shape {arr.shape}")


def resize_nearest(arr: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize (keeps pixel art crisp); returns the input when sizes match."""
    if arr.shape[:2] == (height, width):
        return arr
    rows = (np.arange(height) * arr.shape[0] // height).clip(0, arr.shape[0] - 1)
    cols = (np.arange(width) * arr.shape[1] // width).clip(0, arr.shape[1] - 1)
    return arr[rows[:, None], cols[None, :]]


def matched_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both images as RGB at the larger of the two sizes (nearest-neighbour upscale)."""
    a, b = as_rgb(a), as_rgb(b)
    height = max(a.shape[0], b.shape[0])
    width = max(a.shape[1], b.shape[1])
    return resize_nearest(a, height, width), resize_nearest(b, height, width)


def difference_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel mean absolute difference over the channels, float32 in 0..255."""
    a, b = matched_pair(a, b)
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return diff.mean(axis=2, dtype=np.float32)


def auto_range(diff: np.ndarray) -> float:
    """The colour scale's top: the 99th percentile, at least MIN_AUTO_RANGE so noise stays dark."""
    if diff.size == 0:
        return MIN_AUTO_RANGE
    return float(max(np.percentile(diff, 99), MIN_AUTO_RANGE))


def colorize(values: np.ndarray, vmax: float) -> np.ndarray:
    """Values in 0..vmax mapped through the magma colour table to HxWx3 uint8."""
    scale = (len(MAGMA) - 1) / max(vmax, 1e-6)
    index = np.clip(values * scale, 0, len(MAGMA) - 1).astype(np.intp)
    return MAGMA[index]


def difference_heatmap(a: np.ndarray, b: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """A magma heatmap of |a - b|; `vmax` (0..255 units) is the brightest value, auto if None."""
    diff = difference_map(a, b)
    return colorize(diff, auto_range(diff) if vmax is None else vmax)


def swipe_column(width: int, fraction: float) -> int:
    """The first column taken from the right-hand image for a divider at `fraction`."""
    return round(min(max(fraction, 0.0), 1.0) * width)


def swipe_composite(a: np.ndarray, b: np.ndarray, fraction: float) -> np.ndarray:
    """Columns left of `fraction` * width from `a`, the rest from `b` (a new array)."""
    a, b = matched_pair(a, b)
    split = swipe_column(a.shape[1], fraction)
    out = b.copy()
    out[:, :split] = a[:, :split]
    return out
