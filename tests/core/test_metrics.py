"""PSNR, SSIM and speed-up: known values, symmetry, and SSIM against a slow reference."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from studio.core.metrics import gaussian_window, psnr, speedup, ssim

RNG = np.random.default_rng(1234)


def random_image(height: int, width: int, channels: int | None = 3) -> np.ndarray:
    shape = (height, width) if channels is None else (height, width, channels)
    return RNG.integers(0, 256, size=shape, dtype=np.uint8)


def noisy(image: np.ndarray, sigma: float) -> np.ndarray:
    noise = np.random.default_rng(7).normal(0.0, sigma, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def reference_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. SSIM computed window by window, straight from the definition."""
    x, y = a.astype(np.float64), b.astype(np.float64)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    height, width, channels = x.shape
    kh, kw = min(11, height), min(11, width)
    window = np.outer(gaussian_window(kh), gaussian_window(kw))
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    scores = []
    for c in range(channels):
        values = []
        for i in range(height - kh + 1):
            for j in range(width - kw + 1):
                px, py = x[i : i + kh, j : j + kw, c], y[i : i + kh, j : j + kw, c]
                mx, my = (window * px).sum(), (window * py).sum()
                vx = (window * (px - mx) ** 2).sum()
                vy = (window * (py - my) ** 2).sum()
                cov = (window * (px - mx) * (py - my)).sum()
                values.append(
                    (2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
                )
        scores.append(np.mean(values))
    return float(np.mean(scores))


def test_gaussian_window_is_normalised_and_symmetric() -> None:
    window = gaussian_window(11)
    assert window.sum() == pytest.approx(1.0)
    assert np.allclose(window, window[::-1])
    assert window.argmax() == 5


def test_identical_images() -> None:
    image = random_image(32, 40)
    assert psnr(image, image) == math.inf
    assert ssim(image, image) == pytest.approx(1.0, abs=1e-12)


def test_psnr_of_a_constant_offset() -> None:
    image = np.full((16, 16, 3), 100, np.uint8)
    assert psnr(image, image + 10) == pytest.approx(10 * math.log10(255**2 / 100))
    assert psnr(image, image + 1, data_range=1.0) == pytest.approx(0.0)


def test_psnr_does_not_wrap_uint8() -> None:
    a, b = np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 255, np.uint8)
    assert psnr(a, b) == pytest.approx(0.0)
    assert psnr(b, a) == pytest.approx(0.0)


def test_ssim_decreases_with_noise() -> None:
    image = random_image(48, 48)
    scores = [ssim(image, noisy(image, sigma)) for sigma in (2, 10, 30, 80)]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] < 1.0 and scores[-1] > -1.0


def test_ssim_is_symmetric() -> None:
    a, b = random_image(40, 30), random_image(40, 30)
    assert ssim(a, b) == pytest.approx(ssim(b, a), abs=1e-12)


@pytest.mark.parametrize(
    ("height", "width", "channels"), [(20, 24, 3), (17, 13, None), (6, 9, 3), (1, 1, 3)]
)
def test_ssim_matches_the_slow_reference(height: int, width: int, channels: int | None) -> None:
    a = random_image(height, width, channels)
    b = noisy(a, 25.0)
    assert ssim(a, b) == pytest.approx(reference_ssim(a, b), abs=1e-6)


def best_time(run: object, repeats: int = 3) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        run()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def test_ssim_is_vectorised() -> None:
    """A ratio within one run, not a wall-clock bound: the window-by-window definition costs
    hundreds of times what a vectorised SSIM does, whatever else the machine is doing."""
    a = random_image(48, 48)
    b = noisy(a, 10.0)
    fast = best_time(lambda: ssim(a, b), repeats=5)
    slow = best_time(lambda: reference_ssim(a, b), repeats=1)
    assert fast * 20 < slow


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_shape_mismatch_is_a_clear_error(metric: object) -> None:
    with pytest.raises(
        ValueError, match=r"^The images differ in shape: \(8, 8, 3\) vs \(8, 9, 3\)\.$"
    ):
        metric(random_image(8, 8), random_image(8, 9))  # type: ignore[operator]


@pytest.mark.parametrize("shape", [(0, 4, 3), (4,), (2, 2, 2, 2)])
def test_odd_shapes_are_refused(shape: tuple[int, ...]) -> None:
    image = np.zeros(shape, np.uint8)
    with pytest.raises(ValueError, match="non-empty"):
        ssim(image, image)


def test_speedup() -> None:
    assert speedup(10.0, 2.5) == 4.0
    assert speedup(1.0, 0.0) == math.inf
    assert speedup(0.0, 0.0) == 1.0
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="not a finite, non-negative duration"):
            speedup(bad, 1.0)
        with pytest.raises(ValueError):
            speedup(1.0, bad)
