"""What a convergence run costs before it is queued: runs, evaluations, time, confirmation."""

from __future__ import annotations

import math

import pytest

from studio.core.convergence import ConvergenceSpec, deterministic_samplers
from studio.core.convergence_estimate import (
    ROUGH_SECONDS_PER_EVALUATION,
    default_samplers,
    duration_text,
    estimate_convergence,
    evaluations,
    pace_of,
)


def test_runs_and_evaluations_are_counted_per_sampler_and_case() -> None:
    spec = ConvergenceSpec(samplers=("DDIM", "Heun", "PNDM"), steps=(2, 4), reference_steps=100)
    estimate = estimate_convergence(spec, cases=2)
    assert estimate.runs == 2 * (1 + 3 * 2)
    # DDIM 2+4, Heun (2 per step less one) 3+7, PNDM (one more to start) 3+5, the reference 100.
    assert estimate.evaluations == 2 * (100 + 6 + 10 + 8)
    assert not estimate.upper_bound and not estimate.measured
    assert estimate.seconds == pytest.approx(248 * ROUGH_SECONDS_PER_EVALUATION)
    assert not estimate.needs_confirmation
    assert estimate.runs_text() == (
        "14 runs: 2 references of 100 steps, then 3 samplers × 2 step counts × 2 cases"
    )


def test_the_default_run_is_an_upper_bound_that_asks_first() -> None:
    estimate = estimate_convergence(ConvergenceSpec(), cases=2)
    samplers = default_samplers()
    assert "AMED" not in samplers and "Flow Euler" not in samplers
    assert set(samplers) <= set(deterministic_samplers())
    assert estimate.runs == 2 * (1 + len(samplers) * 6)
    assert estimate.upper_bound and estimate.runs_text().startswith("up to ")
    assert estimate.needs_confirmation
    assert "1000 steps" in estimate.text() and "rough figure" in estimate.text()


def test_step_counts_a_sampler_cannot_take_are_left_out() -> None:
    spec = ConvergenceSpec(samplers=("AMED",), steps=(2, 4), reference_steps=10)
    assert estimate_convergence(spec, cases=1).runs == 2


def test_a_measured_pace_replaces_the_rough_constant() -> None:
    spec = ConvergenceSpec(samplers=("DDIM",), steps=(10,), reference_steps=40)
    estimate = estimate_convergence(spec, cases=1, seconds_per_evaluation=0.5)
    assert estimate.measured and estimate.seconds == pytest.approx(25.0)
    assert "measured" in estimate.time_text()
    for unusable in (None, 0.0, -1.0, math.nan):
        assert not estimate_convergence(spec, 1, unusable).measured


def test_many_runs_ask_even_when_quick() -> None:
    spec = ConvergenceSpec(samplers=("DDIM",), steps=tuple(range(1, 13)), reference_steps=10)
    estimate = estimate_convergence(spec, cases=5, seconds_per_evaluation=1e-4)
    assert estimate.runs == 65 and estimate.seconds < 1 and estimate.needs_confirmation


def test_pace_is_the_median_step() -> None:
    assert pace_of([0.5, 0.1, 0.1, 0.12]) == pytest.approx(0.12)
    assert pace_of([]) is None
    assert evaluations("heun", 1) == 1 and evaluations("DPM++ 2M", 8) == 8


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.2, "1 s"), (40, "40 s"), (400, "7 min"), (5100, "1 h 25 min")]
)
def test_duration_text(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text
