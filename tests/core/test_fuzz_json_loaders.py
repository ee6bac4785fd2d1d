"""Fuzzing the JSON loaders: settings, recipe presets, model-pair presets, adapter manifests.

Each loader gets hostile values (NaN, 1e999, huge integers, deep nesting, wrong types, bad
UTF-8, NUL, lone surrogates) as parsed values and as file bytes. None may crash or hang: each
returns usable values with short warnings, or (files) falls back as its docstring says.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studio.core.engine_options import MAX_BUDGET_MB, MAX_CACHED_MODELS
from studio.core.manifest import MANIFEST, AdapterManifest, ManifestError, read_manifest
from studio.core.model_presets import BUILTIN_FILE, load_model_presets, read_preset_file
from studio.core.params import problems
from studio.core.paths import presets_dir
from studio.core.preset_schema import ModelPreset, parse_preset
from studio.core.presets import PRESETS_FILE, load_presets, presets_from_json
from studio.core.settings import (
    Settings,
    load_settings,
    save_settings,
    settings_from_json,
    settings_to_json,
)
from tests.fuzzing import (
    HOSTILE_BYTES,
    HOSTILE_TEXTS,
    fuzz_settings,
    json_texts,
    json_values,
    mutate_dict,
    within,
)

MAX_MESSAGE_CHARS = 600
SETTINGS_JSON = settings_to_json(Settings())
SHIPPED_PAIRS = json.loads((presets_dir() / BUILTIN_FILE).read_text("utf-8"))["presets"]
SHIPPED_RECIPES = json.loads((presets_dir() / PRESETS_FILE).read_text("utf-8"))["presets"]
ALL_HOSTILE = [t.encode("utf-8") for t in HOSTILE_TEXTS] + HOSTILE_BYTES


def short_sentences(messages: Any) -> None:
    for message in messages:
        assert isinstance(message, str) and message.strip()
        assert len(message) <= MAX_MESSAGE_CHARS, message[:200]


def usable_settings(settings: Settings) -> None:
    for recipe in (settings.teacher, settings.student):
        assert problems(recipe.params(settings.shared)) == []
    engine = settings.engine
    assert 0 <= engine.ram_budget_mb <= MAX_BUDGET_MB and 0 <= engine.gpu_budget_mb <= MAX_BUDGET_MB
    assert 1 <= engine.max_models <= MAX_CACHED_MODELS
    with tempfile.TemporaryDirectory() as folder:
        path = save_settings(Path(folder) / "again.json", settings)
        assert load_settings(path) == (settings, None)


def usable_model_preset(preset: ModelPreset) -> None:
    assert preset.name.strip() and len(preset.name) <= 80
    assert 1 <= preset.num_inference_steps <= 1000
    assert math.isfinite(preset.guidance_scale) and math.isfinite(preset.eta)
    assert all(isinstance(t, int) for t in preset.timesteps)
    assert preset.width % 8 == 0 and preset.height % 8 == 0


def nested_settings() -> st.SearchStrategy[dict[str, Any]]:
    """The saved settings with hostile values at the top and inside one nested object."""
    inner = st.sampled_from(["shared", "teacher", "student", "engine"])
    return st.tuples(mutate_dict(SETTINGS_JSON), inner).flatmap(
        lambda pair: mutate_dict(SETTINGS_JSON[pair[1]]).map(
            lambda sub: {**pair[0], pair[1]: sub} if pair[1] in pair[0] else pair[0]
        )
    )


# --- settings ----------------------------------------------------------------------------------


@fuzz_settings()
@given(data=nested_settings() | json_values())
def test_settings_from_any_json_are_usable(data: Any) -> None:
    with within():
        settings, warnings = settings_from_json(data)
    usable_settings(settings)
    short_sentences(warnings)


@fuzz_settings(0.5)
@given(raw=json_texts(nested_settings() | json_values()))
def test_a_settings_file_of_any_bytes_loads_or_is_set_aside(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "settings.json"
        path.write_bytes(raw)
        with within():
            settings, notice = load_settings(path)
        usable_settings(settings)
        if notice is not None:
            short_sentences([notice])
            assert not path.exists() and "defaults are used" in notice
        else:
            assert path.read_bytes() == raw


@pytest.mark.parametrize("raw", ALL_HOSTILE, ids=range(len(ALL_HOSTILE)))
def test_each_hostile_settings_file_loads_or_is_set_aside(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(raw)
    with within():
        settings, notice = load_settings(path)
    usable_settings(settings)
    short_sentences([notice] if notice else [])


# --- recipe presets ----------------------------------------------------------------------------


def recipe_files() -> st.SearchStrategy[Any]:
    entry = st.sampled_from(SHIPPED_RECIPES).flatmap(
        lambda e: mutate_dict(e) | mutate_dict(e["recipe"]).map(lambda r: {**e, "recipe": r})
    )
    return st.fixed_dictionaries(
        {"version": st.just(1) | json_values(3), "presets": st.lists(entry | json_values(6))}
    )


@fuzz_settings()
@given(data=recipe_files() | json_values())
def test_recipe_presets_from_any_json_are_usable(data: Any) -> None:
    with within():
        presets, warnings = presets_from_json(data, "recipes.json")
    names = [p.name for p in presets]
    assert len(names) == len(set(names))
    for preset in presets:
        assert isinstance(preset.name, str) and preset.name
        assert problems(preset.recipe.params(Settings().shared)) == []
    short_sentences(warnings)


@fuzz_settings(0.5)
@given(raw=json_texts(recipe_files() | json_values()))
def test_a_recipe_presets_file_of_any_bytes_falls_back_to_built_ins(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / PRESETS_FILE).write_bytes(raw)
        with within():
            presets, warnings = load_presets(Path(folder))
    assert presets
    short_sentences(warnings)


@pytest.mark.parametrize("raw", ALL_HOSTILE, ids=range(len(ALL_HOSTILE)))
def test_each_hostile_recipe_presets_file_falls_back(tmp_path: Path, raw: bytes) -> None:
    (tmp_path / PRESETS_FILE).write_bytes(raw)
    with within():
        presets, warnings = load_presets(tmp_path)
    assert presets
    short_sentences(warnings)


# --- model-pair presets ------------------------------------------------------------------------


def pair_entries() -> st.SearchStrategy[Any]:
    nested_keys = ("adapter", "scheduler", "teacher", "call_kwargs")

    def mutate_inside(entry: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        present = [k for k in nested_keys if isinstance(entry.get(k), dict)]
        if not present:
            return mutate_dict(entry)
        return st.sampled_from(present).flatmap(
            lambda key: mutate_dict(entry[key]).map(lambda sub: {**entry, key: sub})
        )

    return st.sampled_from(SHIPPED_PAIRS).flatmap(lambda e: mutate_dict(e) | mutate_inside(e))


@fuzz_settings()
@given(entry=pair_entries() | json_values(), user=st.booleans())
def test_a_model_preset_of_any_json_is_usable_or_named_as_bad(entry: Any, user: bool) -> None:
    with within():
        preset, found = parse_preset(entry, "mine.json", index=3, user=user)
    assert (preset is None) == bool(found)
    short_sentences(found)
    if preset is not None:
        usable_model_preset(preset)


@fuzz_settings(0.5)
@given(
    raw=json_texts(st.lists(pair_entries(), max_size=3).map(lambda p: {"presets": p}))
    | json_texts(pair_entries() | json_values())
)
def test_a_user_preset_file_of_any_bytes_gives_presets_or_warnings(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mine.json"
        path.write_bytes(raw)
        with within():
            presets, warnings = read_preset_file(path, str(path), user=True)
    short_sentences(warnings)
    for preset in presets:
        usable_model_preset(preset)


@pytest.mark.parametrize("raw", ALL_HOSTILE, ids=range(len(ALL_HOSTILE)))
def test_each_hostile_user_preset_file_is_a_warning(tmp_path: Path, raw: bytes) -> None:
    user = tmp_path / "model-presets"
    user.mkdir()
    (user / "bad.json").write_bytes(raw)
    with within():
        catalogue = load_model_presets(presets_dir(), user)
    assert len(catalogue.presets) >= 30
    short_sentences(catalogue.warnings)


# --- adapter manifests -------------------------------------------------------------------------

MANIFEST_JSON = AdapterManifest(base="teacher", lora="lora.safetensors").to_json()


@fuzz_settings(0.5)
@given(raw=json_texts(mutate_dict(MANIFEST_JSON) | json_values()))
def test_an_adapter_manifest_of_any_bytes_reads_or_raises_manifest_error(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / MANIFEST).write_bytes(raw)
        try:
            with within():
                manifest = read_manifest(Path(folder))
        except ManifestError as exc:
            short_sentences([str(exc)])
            return
    assert manifest is not None
    assert "/" not in manifest.lora and "/" not in manifest.base
    assert math.isfinite(manifest.guidance_scale) and math.isfinite(manifest.eta)
