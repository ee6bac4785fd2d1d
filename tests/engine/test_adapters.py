"""Students stored as LoRA adapter folders: exported, loaded, fused, and refused when broken."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from studio.core.manifest import MANIFEST, AdapterManifest, ManifestError, parse_manifest
from studio.core.models import ModelRef, ModelSource
from studio.engine.loading import ModelLoadError, load_pipeline
from tests.engine.tiny import save_tiny_student_pair


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path, torch.nn.Module]:
    return save_tiny_student_pair(tmp_path_factory.mktemp("models"))


def test_adapter_folder_loads_as_the_student(pair):
    _, adapter, student = pair
    loaded = load_pipeline(ModelRef(location=str(adapter), source=ModelSource.folder))
    fused = loaded.pipe.unet.state_dict()
    for name, value in student.state_dict().items():
        torch.testing.assert_close(fused[name], value, atol=2e-3, rtol=1e-3)
    assert not any("lora" in name for name in fused)


def test_teacher_is_untouched_by_loading_the_student(pair):
    base, adapter, student = pair
    load_pipeline(ModelRef(location=str(adapter)))
    teacher = load_pipeline(ModelRef(location=str(base))).pipe.unet
    a = teacher.conv_in.weight
    assert not torch.allclose(a, student.conv_in.weight)


def broken_copy(adapter: Path, tmp_path: Path, edit) -> Path:
    root = tmp_path / "models"
    shutil.copytree(adapter.parent, root)
    target = root / adapter.name
    edit(target)
    return target


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda f: (f / MANIFEST).write_text("{nope"), "not valid JSON"),
        (lambda f: (f / MANIFEST).write_text(json.dumps({"format": 9})), "Unsupported"),
        (lambda f: (f / "pytorch_lora_weights.safetensors").unlink(), "missing"),
        (lambda f: shutil.rmtree(f.parent / "tiny-teacher"), "base model"),
        (lambda f: (f / "pytorch_lora_weights.safetensors").write_bytes(b"junk" * 10), "adapter"),
        (
            lambda f: torch.save({"w": torch.zeros(1)}, f / "pytorch_lora_weights.safetensors"),
            "The adapter file pytorch_lora_weights.safetensors in tiny-student is a PyTorch zip",
        ),
    ],
)
def test_broken_adapters_are_refused_clearly(pair, tmp_path, edit, message):
    _, adapter, _ = pair
    folder = broken_copy(adapter, tmp_path, edit)
    with pytest.raises(ModelLoadError, match=message):
        load_pipeline(ModelRef(location=str(folder)))


@pytest.mark.parametrize("base", ["../escape", "a/b", "", None, 3])
def test_manifest_base_must_be_a_plain_name(base):
    with pytest.raises(ManifestError):
        parse_manifest({"format": 1, "base": base, "lora": "x.safetensors"})


def test_manifest_round_trip():
    m = AdapterManifest(
        base="t",
        lora="l.safetensors",
        method="consistency",
        sampler="LCM",
        num_inference_steps=4,
        guidance_scale=1.0,
        guidance_distilled=True,
    )
    assert parse_manifest(m.to_json()) == m
