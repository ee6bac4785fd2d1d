"""Convergence specs, CSV round trips and the "fewest evaluations" ranking."""

from __future__ import annotations

import math

import pytest

from studio.core.convergence import (
    PSNR_CAP_DB,
    ConvergencePoint,
    ConvergenceSpec,
    capped_psnr,
    curves,
    deterministic_samplers,
    fewest_nfe,
    parse_samplers,
    parse_steps,
    points_csv,
    read_points_csv,
)
from studio.core.params import ValidationError
from studio.core.samplers import find_sampler


def point(sampler: str, steps: int, psnr: float, agreement: float | None = 1.0) -> ConvergencePoint:
    return ConvergencePoint(
        sampler=sampler,
        steps=steps,
        nfe=steps,
        network_passes=2 * steps,
        psnr=psnr,
        agreement=agreement,
        wall_s=0.01 * steps,
        cases=2,
    )


def test_deterministic_samplers_exclude_the_stochastic_ones() -> None:
    names = deterministic_samplers()
    assert {"DDIM", "Euler", "DPM++ 2M", "UniPC", "Heun"} <= set(names)
    assert not any(find_sampler(n).stochastic for n in names)
    assert "Euler a" not in names


def test_spec_refuses_stochastic_and_unknown_samplers() -> None:
    found = ConvergenceSpec(samplers=("Euler a", "Nope")).problems()
    assert "adds noise while sampling" in found[0]
    assert "Unknown sampler 'Nope'" in found[1]
    assert ConvergenceSpec(samplers=("DDIM",), steps=(0,)).problems()
    assert "Reference" in ConvergenceSpec(reference_sampler="DDPM").problems()[0]
    assert ConvergenceSpec(samplers=("DDIM", "Euler")).problems() == []


def test_cases_are_every_prompt_with_every_seed() -> None:
    spec = ConvergenceSpec(prompts=("a", "b"), seeds=(1, 2, 3))
    assert len(spec.cases("x", 0)) == 6
    assert ConvergenceSpec().cases("x", 9) == [("x", 9)]
    too_many = ConvergenceSpec(prompts=tuple("abcde"), seeds=(1, 2, 3, 4))
    assert "at most" in too_many.problems()[0]


def test_parsing_steps_and_samplers() -> None:
    assert parse_steps("8, 2,4") == (2, 4, 8)
    with pytest.raises(ValidationError, match="whole numbers"):
        parse_steps("2,four")
    with pytest.raises(ValidationError, match="listed twice"):
        parse_steps("2,2")
    assert parse_samplers("ddim, dpm++ 2m") == ("DDIM", "DPM++ 2M")
    assert parse_samplers(" ") == ()
    with pytest.raises(ValidationError, match="adds noise"):
        parse_samplers("DDPM")


def test_psnr_cap_keeps_identical_images_finite() -> None:
    assert capped_psnr(math.inf) == PSNR_CAP_DB
    assert capped_psnr(31.5) == 31.5


def test_csv_round_trip_keeps_missing_agreement() -> None:
    points = [point("DDIM", 4, 20.5), point("DDIM", 2, 15.25, None), point("Euler", 2, 14.0)]
    text = points_csv(points)
    assert text.splitlines()[0].startswith("sampler,steps,nfe,network_passes,psnr,agreement")
    back = read_points_csv(text)
    assert back == points
    with pytest.raises(ValueError, match="Row 2"):
        read_points_csv("sampler,steps\nDDIM,x\n")


def test_curves_sort_by_nfe_and_fewest_nfe_ranks_samplers() -> None:
    points = [
        point("DDIM", 8, 30.0),
        point("DDIM", 4, 22.0),
        point("UniPC", 4, 31.0),
        point("Euler", 8, 20.0),
    ]
    assert [p.nfe for p in curves(points)["DDIM"]] == [4, 8]
    assert fewest_nfe(points, 30.0) == [("UniPC", 4), ("DDIM", 8), ("Euler", None)]


def test_a_student_point_is_its_own_curve_and_keeps_its_model_through_the_csv() -> None:
    from dataclasses import replace

    from studio.core.convergence import curves

    teacher = point("DDIM trailing", 2, 20.0)
    student = replace(point("DDIM trailing", 2, 18.0), model="emoji-shortcut")
    assert (teacher.series, student.series) == (
        "DDIM trailing",
        "emoji-shortcut · DDIM trailing",
    )
    assert list(curves([teacher, student])) == ["DDIM trailing", "emoji-shortcut · DDIM trailing"]
    text = points_csv([teacher, student])
    assert text.splitlines()[0].endswith(",cases,model")
    assert read_points_csv(text) == [teacher, student]
    old = "sampler,steps,nfe,network_passes,psnr,agreement,wall_s,cases\nDDIM,2,2,4,15,,0.1,1\n"
    assert read_points_csv(old)[0].model == "", "a CSV from before students still reads"


def test_students_in_a_spec_are_checked_one_sentence_each() -> None:
    from studio.core.convergence import MAX_STUDENTS, StudentCurve
    from studio.core.models import ModelRef

    shortcut = StudentCurve(model=ModelRef.embedded("emoji-shortcut"), sampler="DDIM trailing")
    assert ConvergenceSpec(students=(shortcut,)).problems() == []
    noisy = StudentCurve(model=ModelRef.embedded("emoji-student-sid"), sampler="Euler a")
    wild = StudentCurve(model=ModelRef.embedded("x"), sampler="DDIM", guidance=float("nan"))
    found = ConvergenceSpec(students=(shortcut, shortcut, noisy, wild)).problems()
    assert any(p.startswith("emoji-student-sid: 'Euler a' adds noise") for p in found)
    assert "A student is listed twice." in found
    assert any(p.startswith("x: CFG nan is out of range") for p in found)
    many = tuple(StudentCurve(model=ModelRef.embedded(f"s{i}"), sampler="DDIM") for i in range(5))
    assert f"Draw at most {MAX_STUDENTS} students beside the samplers." in (
        ConvergenceSpec(students=many).problems()
    )
