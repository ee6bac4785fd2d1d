"""Skip-Tuning (Ma et al. 2024): the factors a UNet's skip connections are scaled by.

A UNet's up block at each resolution level receives the features its down block saved at that
level. Skip-Tuning multiplies them by a factor that goes linearly from `rho_top` at the
outermost (full-resolution) level to `rho_bottom` at the innermost one; 1.0 at both ends is the
untouched model. The paper reports that values a little below 1 at the bottom help few-step
samplers of pixel-space models; on the embedded emoji models they do not: rho_bottom 1 -> 0.8
moved no released student's subgroup accuracy beyond noise, and an early 2-step student's gain
came from damping guidance it had folded in twice (docs/BENCHMARKS.md, "Skip-Tuning on the
embedded teacher", "On the released students").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from studio.core.wording import shown

SKIP_MIN = 0.5
SKIP_MAX = 1.5


def _factor_problems(label: str, value: object) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [f"The Skip-Tuning {label} factor must be a number, not {shown(value)}."]
    if not math.isfinite(value):
        return [f"The Skip-Tuning {label} factor {value} is not a finite number."]
    if not SKIP_MIN <= value <= SKIP_MAX:
        return [
            f"The Skip-Tuning {label} factor {value:g} is out of range:"
            f" use {SKIP_MIN:g} to {SKIP_MAX:g} (1 leaves the model untouched)."
        ]
    return []


@dataclass(frozen=True, slots=True, kw_only=True)
class SkipTuning:
    """The two end factors of Skip-Tuning; `problems()` says what is wrong with them.

    Construction never raises, so settings files and PNG text can hold a bad value and be
    described; the engine refuses to apply a config that has problems.
    """

    rho_top: float = 1.0
    rho_bottom: float = 1.0

    @property
    def enabled(self) -> bool:
        return not (self.rho_top == 1.0 and self.rho_bottom == 1.0)

    def problems(self) -> list[str]:
        """One sentence for each bad factor; empty when the config can be applied."""
        return _factor_problems("top", self.rho_top) + _factor_problems("bottom", self.rho_bottom)

    def factors(self, n_levels: int) -> tuple[float, ...]:
        """The factor of each of `n_levels` resolution levels, outermost first.

        The ends are exactly `rho_top` and `rho_bottom`; a lone level is the outermost one.
        """
        if isinstance(n_levels, bool) or not isinstance(n_levels, int) or n_levels < 1:
            raise ValueError(f"A UNet has at least one resolution level, not {n_levels!r}.")
        top, bottom = float(self.rho_top), float(self.rho_bottom)
        if n_levels == 1 or top == bottom:
            return (top,) * n_levels
        last = n_levels - 1
        return tuple(top * (1 - i / last) + bottom * (i / last) for i in range(n_levels))

    def label(self) -> str:
        """The factors as "top/bottom", e.g. "1.0/0.9" (the A1111 text and captions use it)."""
        return f"{float(self.rho_top)!r}/{float(self.rho_bottom)!r}"
