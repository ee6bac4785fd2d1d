"""The Skip-Tuning config: interpolated factors and one sentence per bad value."""

from __future__ import annotations

import dataclasses
import math

import pytest

from studio.core.params import GenerationParams, problems
from studio.core.skip_tuning import SKIP_MAX, SKIP_MIN, SkipTuning


def test_default_is_off_and_every_factor_is_one() -> None:
    config = SkipTuning()
    assert not config.enabled
    assert config.factors(4) == (1.0, 1.0, 1.0, 1.0)
    assert config.problems() == []


@pytest.mark.parametrize(("top", "bottom"), [(1.0, 0.9), (0.9, 1.0), (1.1, 1.1)])
def test_any_factor_other_than_one_enables_it(top: float, bottom: float) -> None:
    assert SkipTuning(rho_top=top, rho_bottom=bottom).enabled


def test_factors_go_linearly_from_top_to_bottom() -> None:
    factors = SkipTuning(rho_top=1.0, rho_bottom=0.7).factors(4)
    assert factors == pytest.approx((1.0, 0.9, 0.8, 0.7))
    assert factors[0] == 1.0 and factors[-1] == 0.7


def test_two_levels_are_exactly_the_two_ends() -> None:
    assert SkipTuning(rho_top=1.05, rho_bottom=0.85).factors(2) == (1.05, 0.85)


def test_a_single_level_is_the_outermost() -> None:
    assert SkipTuning(rho_top=1.1, rho_bottom=0.8).factors(1) == (1.1,)


@pytest.mark.parametrize("levels", [0, -1, 2.0, True])
def test_factors_need_a_positive_whole_number_of_levels(levels: object) -> None:
    with pytest.raises(ValueError, match="at least one resolution level"):
        SkipTuning().factors(levels)  # type: ignore[arg-type]


def test_config_is_frozen_slotted_and_keyword_only() -> None:
    config = SkipTuning(rho_bottom=0.9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.rho_top = 0.8  # type: ignore[misc]
    with pytest.raises(TypeError):
        SkipTuning(1.0, 0.9)  # type: ignore[misc]
    assert not hasattr(config, "__dict__")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            SkipTuning(rho_bottom=0.2),
            f"The Skip-Tuning bottom factor 0.2 is out of range: use {SKIP_MIN:g} to {SKIP_MAX:g}"
            " (1 leaves the model untouched).",
        ),
        (
            SkipTuning(rho_top=2),
            "The Skip-Tuning top factor 2 is out of range: use 0.5 to 1.5 (1 leaves the model"
            " untouched).",
        ),
        (SkipTuning(rho_top=math.nan), "The Skip-Tuning top factor nan is not a finite number."),
        (
            SkipTuning(rho_bottom=math.inf),
            "The Skip-Tuning bottom factor inf is not a finite number.",
        ),
        (
            SkipTuning(rho_top="0.9"),  # type: ignore[arg-type]
            "The Skip-Tuning top factor must be a number, not '0.9'.",
        ),
        (
            SkipTuning(rho_bottom=True),  # type: ignore[arg-type]
            "The Skip-Tuning bottom factor must be a number, not True.",
        ),
    ],
)
def test_each_bad_factor_is_one_sentence(config: SkipTuning, message: str) -> None:
    assert config.problems() == [message]


def test_both_bad_factors_are_both_reported() -> None:
    assert len(SkipTuning(rho_top=0.1, rho_bottom=9.0).problems()) == 2


def test_the_range_ends_are_allowed() -> None:
    assert SkipTuning(rho_top=SKIP_MAX, rho_bottom=SKIP_MIN).problems() == []


def test_generation_params_carry_and_validate_it() -> None:
    assert GenerationParams().skip_tuning == SkipTuning()
    good = GenerationParams(skip_tuning=SkipTuning(rho_bottom=0.9))
    assert problems(good) == []
    bad = GenerationParams(skip_tuning=SkipTuning(rho_bottom=0.1))
    assert problems(bad) == [SkipTuning(rho_bottom=0.1).problems()[0]]
    wrong = GenerationParams(skip_tuning=0.9)  # type: ignore[arg-type]
    assert problems(wrong) == ["The Skip-Tuning options must be a SkipTuning value."]


def test_label_is_top_slash_bottom() -> None:
    assert SkipTuning(rho_top=1, rho_bottom=0.85).label() == "1.0/0.85"
