"""Side-by-side images for comparison PNGs (plain numpy, no Qt)."""

from __future__ import annotations

import numpy as np


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 4) -> np.ndarray:
    """Two uint8 HxWx3 images next to each other on white, upscaled alike when tiny."""
    scale = max(1, 256 // max(left.shape[0], right.shape[0]))
    a, b = (np.kron(img, np.ones((scale, scale, 1), dtype=np.uint8)) for img in (left, right))
    height = max(a.shape[0], b.shape[0])
    canvas = np.full((height, a.shape[1] + gap + b.shape[1], 3), 255, dtype=np.uint8)
    canvas[: a.shape[0], : a.shape[1]] = a
    canvas[: b.shape[0], a.shape[1] + gap :] = b
    return canvas
