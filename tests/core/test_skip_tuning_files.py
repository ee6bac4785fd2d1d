"""Skip-Tuning survives settings JSON, recipe presets and A1111 PNG parameter text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.core.metadata import format_parameters, parse_parameters, to_json_dict
from studio.core.params import GenerationParams
from studio.core.presets import describe
from studio.core.settings import (
    LaneRecipe,
    Settings,
    SharedParams,
    load_settings,
    save_settings,
    settings_from_json,
    settings_to_json,
)
from studio.core.skip_tuning import SkipTuning

TUNED = SkipTuning(rho_top=1.05, rho_bottom=0.85)
RECIPE = LaneRecipe(
    sampler="DDIM trailing", num_inference_steps=4, guidance_scale=1.0, skip_tuning=TUNED
)


def test_lane_recipe_carries_it_into_params_and_back() -> None:
    params = RECIPE.params(SharedParams())
    assert params.skip_tuning == TUNED
    assert LaneRecipe.from_params(params) == RECIPE


def test_settings_round_trip_through_a_file(tmp_path: Path) -> None:
    saved = Settings(student=RECIPE)
    path = save_settings(tmp_path / "settings.json", saved)
    data = json.loads(path.read_text("utf-8"))
    assert data["student"]["skip_tuning"] == {"rho_top": 1.05, "rho_bottom": 0.85}
    assert data["teacher"]["skip_tuning"] == {"rho_top": 1.0, "rho_bottom": 1.0}
    loaded, notice = load_settings(path)
    assert loaded == saved and notice is None


def test_old_settings_without_it_load_with_skip_tuning_off() -> None:
    data = settings_to_json(Settings(student=RECIPE))
    for lane in ("teacher", "student"):
        del data[lane]["skip_tuning"]
    loaded, warnings = settings_from_json(data)
    assert warnings == []
    assert loaded.student.skip_tuning == SkipTuning()
    assert loaded.student.num_inference_steps == 4


def test_whole_numbers_in_the_file_are_read_as_factors() -> None:
    data = settings_to_json(Settings())
    data["teacher"]["skip_tuning"] = {"rho_top": 1, "rho_bottom": 0.9}
    loaded, warnings = settings_from_json(data)
    assert warnings == []
    assert loaded.teacher.skip_tuning == SkipTuning(rho_top=1.0, rho_bottom=0.9)


@pytest.mark.parametrize("bad", [3.0, "0.9", None, True])
def test_a_bad_factor_in_the_file_falls_back_with_a_warning(bad: object) -> None:
    data = settings_to_json(Settings())
    data["teacher"]["skip_tuning"] = {"rho_top": 0.95, "rho_bottom": bad}
    loaded, (warning,) = settings_from_json(data)
    assert loaded.teacher.skip_tuning == SkipTuning(rho_top=0.95)
    assert warning.startswith("The setting 'teacher.skip_tuning.rho_bottom' is not usable")
    assert "Skip-Tuning bottom factor" in warning


def test_a_skip_tuning_that_is_not_an_object_falls_back() -> None:
    data = settings_to_json(Settings())
    data["student"]["skip_tuning"] = [1, 0.9]
    loaded, (warning,) = settings_from_json(data)
    assert loaded.student.skip_tuning == SkipTuning()
    assert "'student.skip_tuning' is not an object" in warning


def test_preset_names_mention_it_only_when_on() -> None:
    assert describe(RECIPE).endswith("· skip 1.05/0.85")
    assert "skip" not in describe(
        LaneRecipe(sampler="DDIM", num_inference_steps=9, guidance_scale=2)
    )


def test_png_text_names_it_only_when_on() -> None:
    plain = format_parameters(GenerationParams(prompt="a"))
    assert "Skip-Tuning" not in plain
    text = format_parameters(GenerationParams(prompt="a", skip_tuning=SkipTuning(rho_bottom=0.9)))
    assert text.splitlines()[-1].endswith(", Skip-Tuning: 1.0/0.9")


def test_png_text_round_trip() -> None:
    params = GenerationParams(prompt="cat", skip_tuning=TUNED)
    parsed = parse_parameters(format_parameters(params))
    assert parsed.params == params and parsed.warnings == ()
    assert to_json_dict(parsed)["skip_tuning"] == {"rho_top": 1.05, "rho_bottom": 0.85}


@pytest.mark.parametrize("value", ["0.9", "a/b", "1/nan", "1/0.9/0.8", "/", "1e999/1"])
def test_unreadable_png_skip_tuning_is_off_with_a_warning(value: str) -> None:
    text = f"cat\nSteps: 4, Sampler: Euler, Seed: 1, Skip-Tuning: {value}"
    parsed = parse_parameters(text)
    assert parsed.params.skip_tuning == SkipTuning()
    assert parsed.warnings == (f"Skip-Tuning {value!r} is not TOP/BOTTOM factors, so it is off.",)


def test_out_of_range_png_skip_tuning_is_kept_and_described() -> None:
    parsed = parse_parameters("cat\nSteps: 4, Sampler: Euler, Seed: 1, Skip-Tuning: 1.0/0.2")
    assert parsed.params.skip_tuning == SkipTuning(rho_top=1.0, rho_bottom=0.2)
    assert parsed.warnings == tuple(SkipTuning(rho_bottom=0.2).problems())


_FACTOR = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=100, deadline=None, database=None)
@given(top=_FACTOR, bottom=_FACTOR)
def test_any_finite_factors_round_trip_through_png_text(top: float, bottom: float) -> None:
    params = GenerationParams(skip_tuning=SkipTuning(rho_top=top, rho_bottom=bottom))
    assert parse_parameters(format_parameters(params)).params.skip_tuning == params.skip_tuning
