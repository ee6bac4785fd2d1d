import json
from pathlib import Path

from studio.core.paths import presets_dir
from studio.core.presets import (
    BUILT_IN,
    PRESETS_FILE,
    describe,
    load_presets,
    presets_from_json,
    presets_to_json,
)
from studio.core.settings import LaneRecipe


def test_shipped_presets_all_read_without_warnings():
    presets, warnings = load_presets(presets_dir())
    assert warnings == []
    assert len(presets) >= 8
    assert {p.recipe.sampler for p in presets} >= {"DPM++ 2M", "DDIM", "LCM", "DDIM trailing"}
    assert len({p.name for p in presets}) == len(presets)


def test_round_trip():
    data = json.loads(json.dumps(presets_to_json(BUILT_IN)))
    assert presets_from_json(data, "x") == (BUILT_IN, [])


def test_bad_presets_are_left_out_one_by_one():
    data = {
        "version": 1,
        "presets": [
            {"name": "good", "recipe": {"sampler": "Euler", "num_inference_steps": 12}},
            {"name": "bad sampler", "recipe": {"sampler": "Nope"}},
            {"name": "bad steps", "recipe": {"num_inference_steps": 0}},
            {"name": "good", "recipe": {}},
            "not an object",
        ],
    }
    presets, warnings = presets_from_json(data, "f.json")
    assert [p.name for p in presets] == ["good"]
    assert presets[0].recipe.num_inference_steps == 12
    assert len(warnings) == 4
    assert any("Nope" in w for w in warnings)
    assert all(w.startswith("f.json") for w in warnings)


def test_unnamed_preset_is_described():
    presets, _ = presets_from_json(
        {"presets": [{"recipe": {"sampler": "TCD", "num_inference_steps": 1, "eta": 0.5}}]}, "f"
    )
    assert presets[0].name == "TCD · 1 step · CFG 3 · eta 0.5"
    assert (
        describe(LaneRecipe(sampler="DDIM", num_inference_steps=50, guidance_scale=3.0))
        == "DDIM · 50 steps · CFG 3"
    )


def test_missing_or_broken_file_falls_back_to_built_in(tmp_path: Path):
    presets, warnings = load_presets(tmp_path)
    assert presets == BUILT_IN and "No recipes.json" in warnings[0]
    (tmp_path / PRESETS_FILE).write_text("{broken")
    presets, warnings = load_presets(tmp_path)
    assert presets == BUILT_IN and "could not be read" in warnings[0]
    (tmp_path / PRESETS_FILE).write_text(json.dumps({"version": 7, "presets": []}))
    presets, warnings = load_presets(tmp_path)
    assert presets == BUILT_IN and "version 7" in warnings[0]
