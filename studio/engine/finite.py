"""The check that keeps NaN images out of the gallery: a lane whose output is not finite fails.

A pipeline that overflows (half precision, an extreme guidance scale, a broken checkpoint)
produces NaN or infinite values, which become a black image once cast to uint8. The runner
checks each lane's decoded output before it becomes an image and fails the lane instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class NonFiniteImage(ValueError):
    """A lane's output holds NaN or infinite values; the message is the sentence for the user."""


def non_finite_message(lane: str, model: str, dtype: Any) -> str:
    where = f"the {lane} lane" if lane and lane != "main" else "the image"
    return (
        f"The model {model} produced NaN (not-a-number) values for {where}, so nothing was "
        f"saved: its numbers overflowed in {_dtype_name(dtype)}; try a lower guidance scale, "
        "another sampler, or the model in full precision (float32)."
    )


def _dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def check_finite(images: np.ndarray, *, lane: str, model: str, dtype: Any) -> np.ndarray:
    """`images` when every value is finite; NonFiniteImage otherwise."""
    array = np.asarray(images)
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        raise NonFiniteImage(non_finite_message(lane, model, dtype))
    return array
