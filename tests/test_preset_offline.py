"""A preset chosen in the window, run offline with an empty hub cache, fails in one clear sentence:
the loader's "not in the local cache ... download it once", naming the preset's base model."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from huggingface_hub import constants

from studio.core.gallery import GalleryStore
from studio.core.model_presets import load_model_presets
from studio.core.model_resolver import ModelResolver
from studio.core.paths import models_dir, presets_dir
from studio.engine import hub_download
from studio.engine.cancel import CancelToken
from studio.engine.model_cache import ModelCache
from studio.engine.pipeline_loader import PipelineLoader
from studio.engine.runner import Runner
from studio.viewmodels.model_presets import apply_preset
from studio.viewmodels.session import SessionViewModel
from studio.worker.failures import describe_failure
from tests.engine.test_runner import Collector
from tests.viewmodels.fake_engine import FakeEngine


@pytest.mark.parametrize("name", ["SDXL-Lightning 4-step (LoRA)", "FLUX.1-schnell"])
def test_an_uncached_preset_offline_says_to_download_it_once(
    name, qapp, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(hub_download, "hub_offline", lambda: True)
    models = ModelResolver(models_dir(), load_model_presets(presets_dir(), None))
    preset = models.preset(name)
    engine = FakeEngine()
    session = SessionViewModel(
        engine, GalleryStore(tmp_path / "g"), rng=random.Random(1), models=models
    )
    apply_preset(session, preset)
    assert session.generate()
    (job,) = engine.jobs
    runner = Runner(ModelCache(capacity=2, loader=PipelineLoader()))
    with pytest.raises(Exception) as caught:
        runner.run(job, CancelToken(), Collector())
    message = describe_failure(caught.value)
    assert message == (
        f"Model '{preset.base}' is not in the local cache and this machine is offline: "
        "download it once with a network connection, or pick a local folder."
    )
