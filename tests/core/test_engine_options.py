"""Engine options in the settings file: device, CPU offload and the model cache's budgets."""

from __future__ import annotations

from pathlib import Path

from studio.core.engine_options import Device, EngineOptions, Offload
from studio.core.settings import (
    Settings,
    load_settings,
    save_settings,
    settings_from_json,
    settings_to_json,
)

CUSTOM = EngineOptions(
    device=Device.cuda, offload=Offload.model, ram_budget_mb=4096, gpu_budget_mb=0, max_models=2
)


def test_engine_options_default_to_automatic():
    engine = Settings().engine
    assert (engine.device, engine.offload) == (Device.auto, Offload.none)
    assert (engine.ram_budget_mb, engine.gpu_budget_mb, engine.max_models) == (0, 0, 3)


def test_engine_options_round_trip_as_plain_json(tmp_path: Path):
    path = save_settings(tmp_path / "settings.json", Settings(engine=CUSTOM))
    assert settings_to_json(Settings(engine=CUSTOM))["engine"] == {
        "device": "cuda",
        "offload": "model",
        "ram_budget_mb": 4096,
        "gpu_budget_mb": 0,
        "max_models": 2,
    }
    assert load_settings(path) == (Settings(engine=CUSTOM), None)


def test_unusable_engine_values_fall_back_one_by_one():
    data = settings_to_json(Settings(engine=CUSTOM))
    data["engine"] |= {"offload": "disk", "max_models": 0, "gpu_budget_mb": -5, "turbo": True}
    settings, warnings = settings_from_json(data)
    assert settings.engine == EngineOptions(device=Device.cuda, ram_budget_mb=4096)
    text = " ".join(warnings)
    for key in ("engine.offload", "engine.max_models", "engine.gpu_budget_mb", "engine.turbo"):
        assert repr(key) in text
    assert "none, model, sequential" in text
