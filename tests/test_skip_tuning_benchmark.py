"""The Skip-Tuning sweep's own logic: which settings it tries, which prompts, bad flags."""

from __future__ import annotations

from benchmarks.skip_tuning import main, parse_args, settings_to_try, spread
from studio.core.skip_tuning import SkipTuning
from studio.lab.evaluate import EvalItem


def test_off_comes_first_once_then_each_setting() -> None:
    args = parse_args(["--rho-bottom", "0.9", "1.0", "0.9", "0.8"])
    assert settings_to_try(args) == [
        SkipTuning(),
        SkipTuning(rho_bottom=0.9),
        SkipTuning(rho_bottom=0.8),
    ]


def test_rho_top_applies_to_every_setting() -> None:
    args = parse_args(["--rho-top", "1.1", "--rho-bottom", "1.0"])
    assert settings_to_try(args) == [SkipTuning(), SkipTuning(rho_top=1.1)]


def test_a_limit_spreads_over_the_whole_set() -> None:
    items = [EvalItem(f"p{i}", i // 4, i) for i in range(100)]
    picked = spread(items, 5)
    assert [item.seed for item in picked] == [0, 25, 50, 74, 99]
    assert spread(items, None) == items and spread(items, 500) == items


def test_bad_factors_stop_before_any_work(capsys) -> None:
    assert main(["--rho-bottom", "0.9", "0.1"]) == 2
    assert "bottom factor 0.1 is out of range" in capsys.readouterr().err
