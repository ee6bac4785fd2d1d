"""The fused-weights cache: a LoRA student restored without peft, bit for bit, and every bad
entry refused and rebuilt."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from studio.core.manifest import read_manifest
from studio.core.models import ModelRef
from studio.engine.adapters import fuse_adapter
from studio.engine.fused_cache import FusedWeightsCache, fused_key
from studio.engine.loading import load_pipeline
from tests.engine.tiny import save_tiny_student_pair


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    base, adapter, _ = save_tiny_student_pair(tmp_path_factory.mktemp("models"))
    return base, adapter


def teacher_unet(base: Path) -> torch.nn.Module:
    return load_pipeline(ModelRef(location=str(base))).pipe.unet


def fused(base: Path, adapter: Path, cache: FusedWeightsCache) -> dict[str, torch.Tensor]:
    pipe = load_pipeline(ModelRef(location=str(base))).pipe
    fuse_adapter(pipe, adapter, read_manifest(adapter), cache)
    return {k: v.clone() for k, v in pipe.unet.state_dict().items()}


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


class CountingCache(FusedWeightsCache):
    """Counts how often peft had to fuse."""

    peft_calls = 0

    def fuse(self, denoiser, lora_file, scale, fuse_with_peft) -> bool:
        def counted() -> None:
            self.peft_calls += 1
            fuse_with_peft()

        return super().fuse(denoiser, lora_file, scale, counted)


def only_entry(cache: FusedWeightsCache) -> Path:
    (entry,) = cache.folder.glob("unet-*.safetensors")
    return entry


def test_a_cached_student_equals_the_peft_fused_one_bit_for_bit(pair, tmp_path):
    base, adapter = pair
    cache = CountingCache(tmp_path / "fused")
    built = fused(base, adapter, cache)
    restored = fused(base, adapter, cache)
    assert cache.peft_calls == 1
    assert_same(built, restored)
    without_cache = fused(base, adapter, CountingCache(tmp_path / "other"))
    assert_same(built, without_cache)
    assert not any("lora" in name for name in restored)


def test_an_entry_whose_bytes_changed_is_refused_and_rebuilt(pair, tmp_path, caplog):
    base, adapter = pair
    cache = CountingCache(tmp_path / "fused")
    good = fused(base, adapter, cache)
    entry = only_entry(cache)
    state = load_file(entry)
    stamp = _metadata(entry)
    name = sorted(state)[0]
    state[name] = state[name] + 1.0
    save_file(state, entry, metadata=stamp)
    with caplog.at_level(logging.WARNING, logger="studio.engine.fused_cache"):
        again = fused(base, adapter, cache)
    assert cache.peft_calls == 2
    assert "content does not match its sha256" in caplog.text
    assert_same(good, again)
    assert _metadata(only_entry(cache)) == stamp


def test_an_entry_of_other_weights_or_truncated_is_refused(pair, tmp_path, caplog):
    base, adapter = pair
    cache = CountingCache(tmp_path / "fused")
    good = fused(base, adapter, cache)
    entry = only_entry(cache)
    state = load_file(entry)
    save_file(state, entry, metadata={**_metadata(entry), "key": "0" * 64})
    with caplog.at_level(logging.WARNING, logger="studio.engine.fused_cache"):
        assert_same(good, fused(base, adapter, cache))
    assert "made for other weights" in caplog.text
    entry.write_bytes(entry.read_bytes()[:1000])
    with caplog.at_level(logging.WARNING, logger="studio.engine.fused_cache"):
        assert_same(good, fused(base, adapter, cache))
    assert "unreadable" in caplog.text
    assert cache.peft_calls == 3


def test_the_key_follows_the_base_weights_and_the_lora_file(pair, tmp_path):
    base, adapter = pair
    lora = adapter / read_manifest(adapter).lora
    unet = teacher_unet(base)
    key = fused_key(unet, lora, 1.0)
    assert fused_key(unet, lora, 1.0) == key
    assert fused_key(unet, lora, 0.5) != key
    other = tmp_path / "other.safetensors"
    state = load_file(lora)
    first = sorted(state)[0]
    state[first] = state[first] * 2
    save_file(state, other)
    assert fused_key(unet, other, 1.0) != key
    with torch.no_grad():
        unet.conv_in.bias.add_(1e-3)
    assert fused_key(unet, lora, 1.0) != key


def test_the_folder_keeps_the_most_recently_used_entries(tmp_path):
    cache = FusedWeightsCache(tmp_path, max_entries=2)
    module = torch.nn.Linear(2, 2)
    lora = tmp_path / "lora.bin"
    for index in range(4):
        lora.write_bytes(bytes([index]))
        cache.fuse(module, lora, 1.0, lambda: None)
        newest = max(tmp_path.glob("unet-*"), key=lambda p: p.stat().st_mtime)
        os.utime(newest, (1_000_000 + index, 1_000_000 + index))
    assert len(list(tmp_path.glob("unet-*.safetensors"))) == 2


def _metadata(path: Path) -> dict[str, str]:
    with safe_open(path, framework="pt") as handle:
        return dict(handle.metadata() or {})
