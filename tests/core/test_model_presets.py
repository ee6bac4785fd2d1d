"""Model-pair presets: the shipped file, the schema's one-sentence errors, user overrides, junk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.core.model_presets import (
    BUILTIN_FILE,
    load_model_presets,
    preset_model_name,
    preset_name_of,
    read_preset_file,
    student_recipe,
    student_ref,
    teacher_ref,
)
from studio.core.models import ModelSource
from studio.core.paths import presets_dir
from studio.core.preset_schema import parse_preset
from studio.core.samplers import find_sampler
from studio.core.student_refs import AdapterKind, StudentRef

VALID = {
    "name": "Tiny Lightning",
    "family": "sdxl",
    "pipeline": "StableDiffusionXLPipeline",
    "base": "stabilityai/stable-diffusion-xl-base-1.0",
    "adapter": {"kind": "lora", "repo": "ByteDance/SDXL-Lightning", "file": "x_lora.safetensors"},
    "scheduler": {"class": "EulerDiscreteScheduler", "overrides": {"timestep_spacing": "trailing"}},
    "timesteps": [999, 749, 499, 249],
    "num_inference_steps": 4,
    "guidance_scale": 0.0,
    "width": 1024,
    "height": 1024,
    "call_kwargs": {},
    "licence": "openrail++",
}


@pytest.fixture(scope="module")
def shipped():
    return load_model_presets(presets_dir(), None)


def test_every_shipped_preset_is_valid(shipped):
    assert shipped.warnings == ()
    assert len(shipped.presets) >= 30
    names = [p.name for p in shipped.presets]
    assert len(names) == len(set(names))
    for preset in shipped.presets:
        spec = find_sampler(preset.sampler)
        assert spec is not None and spec.scheduler == preset.scheduler, preset.name
        assert not preset.timesteps or len(preset.timesteps) == preset.num_inference_steps
        assert preset.licence.strip()


def test_the_public_pairs_of_the_facts_table_are_there(shipped):
    students = {p.student for p in shipped.presets}
    files = {p.adapter.file for p in shipped.presets if p.adapter is not None}
    assert {
        "SimianLuo/LCM_Dreamshaper_v7",
        "stabilityai/sd-turbo",
        "stabilityai/sdxl-turbo",
        "black-forest-labs/FLUX.1-schnell",
        "black-forest-labs/FLUX.1-dev",
        "stabilityai/stable-diffusion-3.5-large-turbo",
    } <= students
    lightning = {
        f"sdxl_lightning_{n}step_{k}.safetensors" for n in (2, 4, 8) for k in ("unet", "lora")
    }
    assert lightning | {"sdxl_lightning_1step_unet_x0.safetensors"} <= files
    assert {f"Hyper-SDXL-{n}steps-lora.safetensors" for n in (2, 4, 8)} <= files
    assert {"Hyper-SDXL-1step-Unet.safetensors", "Hyper-SD15-8steps-CFG-lora.safetensors"} <= files
    assert {"dmd2_sdxl_4step_lora_fp16.safetensors", "dmd2_sdxl_1step_unet_fp16.bin"} <= files


def test_facts_from_the_table_are_carried(shipped):
    by = {p.name: p for p in shipped.presets}
    assert by["DMD2 4-step (LoRA)"].timesteps == (999, 749, 499, 249)
    assert "NC" in by["DMD2 1-step (UNet)"].licence and by["DMD2 1-step (UNet)"].timesteps == (399,)
    x0 = dict(by["SDXL-Lightning 1-step (x0 UNet)"].scheduler_overrides)
    assert x0 == {"prediction_type": "sample", "timestep_spacing": "trailing"}
    assert by["Hyper-SDXL 1-step (UNet)"].timesteps == (800,)
    assert by["TCD SDXL (LoRA)"].eta == 0.3 and by["TCD SDXL (LoRA)"].sampler == "TCD"
    assert dict(by["FLUX.1-schnell"].call_kwargs) == {"max_sequence_length": 256}
    assert by["FLUX.1-schnell"].licence.startswith("Apache-2.0")
    assert by["LCM-SDXL (full UNet)"].adapter.unet_config == "adapter"
    assert by["SDXL-Turbo"].sampler == "Euler a" and by["SDXL-Turbo"].width == 512


def problems_of(changes: dict, *, user: bool = False, drop: str = "") -> list[str]:
    data = {**VALID, **changes}
    data.pop(drop, None)
    preset, found = parse_preset(data, "mine.json", user=user)
    assert (preset is None) == bool(found)
    return found


@pytest.mark.parametrize(
    "changes,field,words",
    [
        ({"num_inference_steps": "four"}, "num_inference_steps", "whole number"),
        ({"guidance_scale": -1}, "guidance_scale", "from 0 to 100"),
        ({"family": "sd9"}, "family", "one of"),
        ({"pipeline": "FluxPipeline"}, "pipeline", "StableDiffusionXLPipeline"),
        ({"base": "not a hub id"}, "base", "hub model id"),
        ({"student": "../up"}, "student", "hub model id"),
        ({"scheduler": {"class": "NoSuchScheduler"}}, "scheduler", "not a scheduler"),
        (
            {"scheduler": {"class": "EulerDiscreteScheduler", "overrides": []}},
            "scheduler",
            "JSON object",
        ),
        ({"timesteps": [999, 999, 1, 0]}, "timesteps", "count down"),
        ({"timesteps": [999]}, "timesteps", "1 entries but num_inference_steps is 4"),
        ({"timesteps": [5000, 3, 2, 1]}, "timesteps", "between 0 and 999"),
        ({"call_kwargs": {"prompt": "x"}}, "call_kwargs", "not one of"),
        ({"call_kwargs": {"eta": 3}}, "call_kwargs", "eta"),
        ({"width": 1001}, "width", "multiple of 8 from 8 to 2048 pixels, not 1001"),
        ({"height": 4096}, "height", "not 4096"),
        ({"licence": ""}, "licence", "non-empty"),
        ({"teacher": {"sampler": "Nope"}}, "teacher is unusable", "unknown sampler 'Nope'"),
        ({"adapter": {"kind": "dora", "repo": "a/b", "file": "x"}}, "adapter", "'lora' or 'unet'"),
        ({"adapter": {"kind": "lora", "repo": "a/b", "file": "../../x"}}, "adapter", "plain file"),
        ({"adapter": {"kind": "lora", "repo": "../b", "file": "x"}}, "adapter", "hub id"),
        ({"adapter": {"kind": "lora", "file": "x"}}, "adapter", "exactly one of"),
        ({"adapter": {"kind": "lora", "folder": "rel/dir", "file": "x"}}, "adapter", "absolute"),
        (
            {"adapter": {"kind": "unet", "repo": "a/b", "file": "u.bin", "allow_pickle": True}},
            "adapter",
            "user's own preset",
        ),
        ({"stpes": 4}, "the preset", "unknown keys 'stpes'"),
    ],
)
def test_each_bad_field_gets_one_sentence_naming_file_and_preset(changes, field, words):
    found = problems_of(changes)
    assert len(found) == 1, found
    assert found[0].startswith("mine.json, preset 'Tiny Lightning': " + field)
    assert words in found[0] and found[0].endswith(".")


def test_a_missing_required_field_is_named():
    assert problems_of({}, drop="licence") == [
        "mine.json, preset 'Tiny Lightning': licence is missing."
    ]


def test_several_bad_fields_give_one_sentence_each():
    found = problems_of({"num_inference_steps": 0, "width": 7, "family": "x", "licence": 3})
    assert len(found) == 4
    assert {f.split(": ")[1].split(" ")[0] for f in found} >= {"num_inference_steps", "width"}


def test_a_user_may_allow_a_pickle_for_their_own_preset():
    adapter = {"kind": "unet", "repo": "a/b", "file": "u.bin", "allow_pickle": True}
    preset, found = parse_preset({**VALID, "adapter": adapter}, "mine.json", user=True)
    assert found == [] and preset.adapter.allow_pickle


def test_a_preset_becomes_refs_and_a_recipe():
    preset, _ = parse_preset({**VALID, "call_kwargs": {"eta": 0.3, "clip_skip": 1}}, "f")
    teacher = teacher_ref(preset)
    assert (teacher.location, teacher.source) == (VALID["base"], ModelSource.hub)
    student = student_ref(preset)
    assert isinstance(student, StudentRef) and student.display_name == "Tiny Lightning"
    assert student.location == VALID["base"] and student.adapter.kind is AdapterKind.lora
    assert student.sampling.timesteps == (999, 749, 499, 249)
    assert student.sampling.scheduler_overrides == (("timestep_spacing", "trailing"),)
    assert student.sampling.call_kwargs == (("clip_skip", 1),)
    recipe = student_recipe(preset)
    assert (recipe.sampler, recipe.num_inference_steps, recipe.eta) == ("Euler trailing", 4, 0.3)
    assert preset_name_of(preset_model_name(preset)) == "Tiny Lightning"
    assert hash(student) == hash(student_ref(preset))


def write(folder: Path, name: str, data) -> Path:
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_user_presets_override_built_ins_of_the_same_name(tmp_path, shipped):
    first = shipped.presets[0]
    changed = {**VALID, "name": first.name, "num_inference_steps": 4}
    write(tmp_path, "a.json", {"version": 1, "presets": [changed]})
    write(tmp_path, "b.json", {**VALID, "name": "Only mine", "timesteps": []})
    catalogue = load_model_presets(presets_dir(), tmp_path)
    assert catalogue.warnings == ()
    assert len(catalogue.presets) == len(shipped.presets) + 1
    assert catalogue.presets[0].name == first.name
    assert catalogue.find(first.name).origin == str(tmp_path / "a.json")
    assert catalogue.find(first.name).family == "sdxl"
    assert catalogue.find("Only mine") is not None


JUNK = {
    "binary.json": b"\x00\xff\xfe garbage \x89PNG",
    "latin1.json": '{"name": "caf\xe9"}'.encode("latin-1"),
    "broken.json": b'{"version": 1, "presets": [',
    "nan.json": b'{"version": 1, "presets": [{"name": "n", "guidance_scale": NaN}]}',
    "huge-number.json": b'{"version": 1, "presets": [{"name": "n", "guidance_scale": 1e999}]}',
    "deep.json": b"[" * 100_000 + b"]" * 100_000,
    "list.json": b"[1, 2, 3]",
    "version.json": b'{"version": 7, "presets": []}',
    "not-a-list.json": b'{"version": 1, "presets": {"a": 1}}',
    "entries.json": b'{"version": 1, "presets": [3, "x", null, {"name": ""}]}',
    "big.json": b" " * 1_100_000 + b"{}",
}


def test_junk_user_files_give_warnings_not_crashes(tmp_path, shipped):
    for name, raw in JUNK.items():
        (tmp_path / name).write_bytes(raw)
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "notes.txt").write_text("not a preset file")
    catalogue = load_model_presets(presets_dir(), tmp_path)
    assert [p.name for p in catalogue.presets] == [p.name for p in shipped.presets]
    for name in JUNK:
        assert any(name in warning for warning in catalogue.warnings), name
    assert not any("notes.txt" in w or "folder.json" in w for w in catalogue.warnings)
    assert sum("entries.json" in w for w in catalogue.warnings) == 4


def test_a_missing_or_broken_built_in_file_is_a_warning(tmp_path):
    catalogue = load_model_presets(tmp_path, None)
    assert catalogue.presets == () and BUILTIN_FILE in catalogue.warnings[0]
    write(tmp_path, BUILTIN_FILE, "{nope")
    presets, warnings = read_preset_file(tmp_path / BUILTIN_FILE, BUILTIN_FILE, user=False)
    assert presets == [] and "not valid JSON" in warnings[0]


def test_a_repeated_name_keeps_the_first(tmp_path):
    data = {"version": 1, "presets": [VALID, {**VALID, "num_inference_steps": 8, "timesteps": []}]}
    presets, warnings = read_preset_file(write(tmp_path, "r.json", data), "r.json", user=True)
    assert len(presets) == 1 and presets[0].num_inference_steps == 4
    assert "repeated" in warnings[0]
