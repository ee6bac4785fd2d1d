"""Settings as JSON: defaults, round trips, forgiving reads, corrupt files aside, atomic saves."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from studio.core import settings as settings_module
from studio.core.params import ScheduleOptions, Sigmas, Spacing
from studio.core.settings import (
    DEFAULT_PROMPT,
    LaneRecipe,
    PreviewKind,
    SeedMode,
    Settings,
    SharedParams,
    Upscale,
    default_settings_path,
    load_settings,
    save_settings,
    settings_from_json,
    settings_to_json,
)

CUSTOM = Settings(
    shared=SharedParams(
        prompt="a fox\nat night", negative_prompt="blur", seed=9, width=64, height=48
    ),
    teacher=LaneRecipe(
        sampler="Euler",
        num_inference_steps=30,
        guidance_scale=4.5,
        schedule=ScheduleOptions(sigmas=Sigmas.karras, spacing=Spacing.trailing),
    ),
    student=LaneRecipe(sampler="LCM", num_inference_steps=2, guidance_scale=1.0, eta=0.0),
    seed_mode=SeedMode.increment,
    batch_count=5,
    compare_mode=False,
    preview_every=0,
    preview_kind=PreviewKind.xt,
    upscale=Upscale.smooth,
    output_dir="/tmp/out",
    teacher_model="my-teacher",
    student_model="my-student",
    models_folder="/data/models",
    engine_url="http://gpu-box:8000",
)


def test_defaults_are_the_embedded_pair() -> None:
    s = Settings()
    assert (s.teacher.sampler, s.teacher.num_inference_steps, s.teacher.guidance_scale) == (
        "DPM++ 2M",
        25,
        3.0,
    )
    assert (s.student.sampler, s.student.num_inference_steps, s.student.guidance_scale) == (
        "DDIM trailing",
        4,
        1.0,
    )
    assert (s.shared.width, s.shared.height, s.shared.prompt) == (32, 32, DEFAULT_PROMPT)
    assert (s.teacher_model, s.student_model) == ("emoji-teacher", "emoji-student-4step")
    assert (s.preview_every, s.preview_kind, s.upscale, s.output_dir) == (1, "x0", "nearest", "")


def test_round_trip_through_a_file(tmp_path: Path) -> None:
    path = save_settings(tmp_path / "cfg" / "settings.json", CUSTOM)
    assert json.loads(path.read_text("utf-8"))["version"] == 1
    loaded, notice = load_settings(path)
    assert loaded == CUSTOM
    assert notice is None


def test_recipe_params_combine_shared_values() -> None:
    params = CUSTOM.teacher.params(CUSTOM.shared, batch_size=2)
    assert (params.prompt, params.seed, params.width, params.sampler) == (
        "a fox\nat night",
        9,
        64,
        "Euler",
    )
    assert LaneRecipe.from_params(params) == CUSTOM.teacher


def test_missing_file_gives_defaults_without_notice(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "nope.json") == (Settings(), None)


def test_wrong_values_fall_back_field_by_field() -> None:
    data = settings_to_json(CUSTOM)
    data["batch_count"] = "many"
    data["teacher"]["num_inference_steps"] = 0
    data["teacher"]["schedule"]["sigmas"] = "wobbly"
    data["shared"] = {"prompt": 42, "seed": 3, "colour": "red"}
    data["student"] = []
    data["future_key"] = True
    settings, warnings = settings_from_json(data)
    assert settings.batch_count == 1
    assert settings.teacher.num_inference_steps == 25
    assert settings.teacher.schedule == ScheduleOptions(spacing=Spacing.trailing)
    assert settings.teacher.sampler == "Euler"
    assert settings.shared == SharedParams(seed=3)
    assert settings.student == Settings().student
    assert settings.upscale is Upscale.smooth
    text = " ".join(warnings)
    for key in ("batch_count", "teacher.num_inference_steps", "teacher.schedule.sigmas"):
        assert repr(key) in text
    assert "'shared.colour'" in text and "'future_key'" in text and "'student'" in text
    assert all(w.endswith(".") for w in warnings)


@pytest.mark.parametrize("url", ["ftp://gpu-box", "http://gpu-box:99999", 8000, "a\x00b"])
def test_an_engine_url_that_cannot_be_used_is_forgotten_with_a_warning(url) -> None:
    data = settings_to_json(CUSTOM)
    data["engine_url"] = url
    settings, warnings = settings_from_json(data)
    assert settings.engine_url == "" and settings.models_folder == CUSTOM.models_folder
    assert len(warnings) == 1 and "'engine_url'" in warnings[0]


def test_a_file_from_before_the_engine_url_remembers_no_engine() -> None:
    data = settings_to_json(CUSTOM)
    del data["engine_url"]
    assert settings_from_json(data) == (replace(CUSTOM, engine_url=""), [])


def test_whole_numbers_are_accepted_for_float_fields() -> None:
    data = settings_to_json(Settings())
    data["teacher"]["guidance_scale"] = 7
    settings, warnings = settings_from_json(data)
    assert settings.teacher.guidance_scale == 7.0 and isinstance(
        settings.teacher.guidance_scale, float
    )
    assert warnings == []


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe{\x00",
        b'{"batch_count": NaN}',
        b'{"teacher": {"guidance_scale": 1e999}}',
        b"[" * 100_000 + b"]" * 100_000,
        b"[1, 2, 3]",
        b'"just text"',
        b'{"prompt": "unterminated',
        b"",
    ],
    ids=["utf8", "nan", "huge", "deep", "list", "string", "truncated", "empty"],
)
def test_corrupt_file_is_kept_aside_with_a_notice(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(raw)
    settings, notice = load_settings(path)
    assert settings == Settings()
    aside = list(tmp_path.glob("settings.corrupt-*.json"))
    assert len(aside) == 1 and aside[0].read_bytes() == raw
    assert not path.exists()
    assert notice is not None and str(aside[0]) in notice and notice.count(".") >= 1
    assert notice.startswith("The settings file could not be used")


def test_two_corrupt_files_in_one_second_keep_both(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(settings_module.time, "strftime", lambda fmt: "20250101-120000")
    path = tmp_path / "settings.json"
    for raw in (b"{", b"["):
        path.write_bytes(raw)
        load_settings(path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "settings.corrupt-20250101-120000-2.json",
        "settings.corrupt-20250101-120000.json",
    ]


def test_atomic_save_leaves_no_temp_file(tmp_path: Path) -> None:
    save_settings(tmp_path / "settings.json", Settings())
    save_settings(tmp_path / "settings.json", CUSTOM)
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]


def test_failed_save_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    path = save_settings(tmp_path / "settings.json", CUSTOM)
    before = path.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(settings_module.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        save_settings(path, replace(CUSTOM, batch_count=2))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]


def test_default_path_is_in_the_user_config_dir(monkeypatch, tmp_path: Path) -> None:
    seen = []
    monkeypatch.setattr(
        settings_module.platformdirs,
        "user_config_dir",
        lambda name: seen.append(name) or os.fspath(tmp_path / name),
    )
    assert default_settings_path() == tmp_path / "studio" / "settings.json"
    assert seen == ["studio"]
