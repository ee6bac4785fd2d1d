"""The window's choices reach the engine as it means them: a pickle file the user allowed loads
through torch.load(weights_only=True) only, a payload in an allowed file is still refused and
never runs, a file changed after it was allowed is refused again with the usual message, and a
LoRA from the models folder runs on the student lane only, through the presets' loading path.

The references are built exactly as the window builds them (`ModelResolver.resolve` with the
session's pickle permissions), so these tests cover the whole way from a model name to the
loader.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from studio.core.lora_students import lora_student_name
from studio.core.model_library import model_name
from studio.core.model_resolver import ModelResolver
from studio.core.models import ModelRef, ModelSource
from studio.core.pickle_permissions import PicklePermissions
from studio.core.student_refs import AdapterKind, StudentRef
from studio.engine.loading import ModelLoadError, load_pipeline
from studio.engine.model_cache import ModelCache
from studio.engine.pipeline_loader import PipelineLoader
from studio.engine.runner import Runner
from tests.engine import ldm_layout
from tests.engine.test_safe_loading import RunsCode
from tests.engine.test_students import compare, run_alone, shared_runner
from tests.engine.tiny import build_tiny_sd3_pipeline, build_tiny_sd_pipeline
from tests.engine.tiny_families import save_tiny_lora

REFUSED = "is a PyTorch zip checkpoint, a pickle format that can run code when loaded"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("library-opt-ins")
    pipe = build_tiny_sd_pipeline()
    folder = root / "sd1"
    pipe.save_pretrained(folder, safe_serialization=True)
    config = root / "sd1-config"
    shutil.copytree(folder, config, ignore=shutil.ignore_patterns("*.safetensors"))
    models = root / "models"
    models.mkdir()
    checkpoint = models / "tiny-sd.ckpt"
    torch.save({"state_dict": ldm_layout.pipeline_to_ldm(pipe, "sd1")}, checkpoint)
    return SimpleNamespace(
        folder=folder,
        config=config,
        models=models,
        checkpoint=checkpoint,
        lora=save_tiny_lora(pipe, models / "Lora" / "style.safetensors"),
        sd3_lora=save_tiny_lora(build_tiny_sd3_pipeline(), models / "Lora" / "sd3.safetensors"),
    )


def generate(pipe: Any) -> np.ndarray:
    gen = torch.Generator().manual_seed(7)
    out = pipe("a cat", num_inference_steps=2, height=32, width=32, generator=gen, output_type="np")
    return out.images[0]


@pytest.fixture
def torch_loads(monkeypatch) -> list[dict[str, Any]]:
    """The keyword arguments of every torch.load call (the real load still runs)."""
    calls: list[dict[str, Any]] = []
    real = torch.load

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    return calls


def test_an_allowed_pickle_is_read_with_weights_only_and_loads(tiny, torch_loads):
    name = model_name(str(tiny.checkpoint), str(tiny.config))
    refused = ModelResolver.shipped().resolve(name)
    assert not refused.allow_pickle
    with pytest.raises(ModelLoadError, match=f"^tiny-sd.ckpt {REFUSED}"):
        load_pipeline(refused, device="cpu")
    assert torch_loads == [], "a refused pickle was opened by torch"
    ref = ModelResolver.shipped().resolve(name, PicklePermissions().allowing(tiny.checkpoint))
    assert (ref.allow_pickle, ref.location) == (True, str(tiny.checkpoint.resolve()))
    loaded = load_pipeline(ref, device="cpu")
    assert torch_loads and all(call.get("weights_only") is True for call in torch_loads)
    expected = load_pipeline(ModelRef(location=str(tiny.folder)), device="cpu")
    np.testing.assert_array_equal(generate(loaded.pipe), generate(expected.pipe))


def test_an_allowed_pickle_with_a_payload_is_still_refused_and_never_runs(tiny, tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": RunsCode(marker)}}, evil)
    ref = ModelResolver.shipped().resolve(str(evil), PicklePermissions().allowing(evil))
    assert ref.allow_pickle
    with pytest.raises(ModelLoadError) as caught:
        load_pipeline(ref, device="cpu")
    assert str(caught.value) == (
        "evil.ckpt holds more than tensors (posix.system), so it is refused even with pickle "
        "allowed."
    )
    assert not marker.exists()


def test_a_file_changed_after_it_was_allowed_is_refused_again(tiny, tmp_path):
    copy = Path(shutil.copy(tiny.checkpoint, tmp_path / "tiny-sd.ckpt"))
    allowed = PicklePermissions().allowing(copy)
    later = copy.stat().st_mtime_ns + 5_000_000_000
    os.utime(copy, ns=(later, later))
    ref = ModelResolver.shipped().resolve(model_name(str(copy), str(tiny.config)), allowed)
    assert not ref.allow_pickle
    with pytest.raises(ModelLoadError, match=f"^tiny-sd.ckpt {REFUSED}.*--allow-pickle"):
        load_pipeline(ref, device="cpu")


def test_the_opt_in_never_reaches_another_file(tiny, tmp_path):
    other = Path(shutil.copy(tiny.checkpoint, tmp_path / "other.ckpt"))
    allowed = PicklePermissions().allowing(tiny.checkpoint)
    assert not ModelResolver.shipped().resolve(str(other), allowed).allow_pickle
    assert not ModelResolver.shipped().resolve(str(tiny.folder), allowed).allow_pickle


def library_student(tiny, lora: Path) -> StudentRef:
    ref = ModelResolver.shipped().resolve(lora_student_name(str(tiny.folder), str(lora)))
    assert isinstance(ref, StudentRef) and ref.adapter is not None
    return ref


def test_a_library_lora_is_the_presets_kind_of_student(tiny):
    ref = library_student(tiny, tiny.lora)
    assert (ref.location, ref.source, ref.label) == (
        str(tiny.folder.resolve()),
        ModelSource.folder,
        "",
    )
    assert (ref.adapter.kind, ref.adapter.source) == (AdapterKind.lora, ModelSource.folder)
    assert Path(ref.adapter.location) / ref.adapter.file == tiny.lora.resolve()
    assert ref.display_name == "sd1 + style.safetensors"


def test_a_library_lora_changes_the_student_lane_only(tiny):
    teacher = ModelResolver.shipped().resolve(str(tiny.folder))
    alone = run_alone(Runner(ModelCache(capacity=1)), teacher)
    runner = shared_runner()
    t_image, s_image = compare(runner, teacher, library_student(tiny, tiny.lora))
    np.testing.assert_array_equal(t_image, alone)
    assert np.abs(s_image.astype(int) - t_image.astype(int)).max() > 0
    t_model, _ = runner.models.get(teacher)
    s_model, _ = runner.models.get(library_student(tiny, tiny.lora))
    assert s_model.pipe.unet is t_model.pipe.unet, "the LoRA lives on the teacher's own UNet"


def test_a_library_lora_of_another_family_fails_in_one_sentence(tiny):
    with pytest.raises(ModelLoadError, match=r"holds no weights|does not fit") as caught:
        PipelineLoader()(library_student(tiny, tiny.sd3_lora))
    assert "\n" not in str(caught.value) and "sd3.safetensors" in str(caught.value)
