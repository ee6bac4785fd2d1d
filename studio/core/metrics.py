"""How close a student's image is to its teacher's (PSNR, SSIM), and how much faster it came."""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _as_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"The images differ in shape: {a.shape} vs {b.shape}.")
    if a.ndim not in (2, 3) or a.size == 0:
        raise ValueError(f"The images must be non-empty HxW or HxWxC arrays, not {a.shape}.")
    return a.astype(np.float64), b.astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB; inf for identical images."""
    x, y = _as_pair(a, b)
    mse = float(np.mean((x - y) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def gaussian_window(size: int, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """A normalised 1-D Gaussian of `size` taps centred on the middle."""
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    weights = np.exp(-(offsets**2) / (2.0 * sigma**2))
    return weights / weights.sum()


def _filter_valid(stack: np.ndarray, weights: np.ndarray, axis: int) -> np.ndarray:
    """Correlate `stack` with `weights` along `axis`, keeping only fully covered positions."""
    return sliding_window_view(stack, len(weights), axis=axis) @ weights


def _channels_first(image: np.ndarray) -> np.ndarray:
    return image[None] if image.ndim == 2 else np.moveaxis(image, -1, 0)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean structural similarity (Wang et al. 2004) over the valid region and the channels.

    An 11x11 Gaussian window (sigma 1.5, smaller for images under 11 px), K1 0.01, K2 0.03.
    """
    x, y = (_channels_first(image) for image in _as_pair(a, b))
    stack = np.stack([x, y, x * x, y * y, x * y])
    for axis in (2, 3):
        window = gaussian_window(min(SSIM_WINDOW, stack.shape[axis]))
        stack = _filter_valid(stack, window, axis)
    mu_x, mu_y, xx, yy, xy = stack
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    numerator = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    denominator = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    per_channel = (numerator / denominator).mean(axis=(1, 2))
    return float(per_channel.mean())


def speedup(teacher_s: float, student_s: float) -> float:
    """How many times faster the student was; inf when it took no measurable time."""
    for label, value in (("teacher", teacher_s), ("student", student_s)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"The {label} time {value} is not a finite, non-negative duration.")
    if student_s == 0:
        return 1.0 if teacher_s == 0 else math.inf
    return teacher_s / student_s
