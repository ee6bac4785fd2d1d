"""The scheduler cache: every call a fresh, independent scheduler equal to a new build, and
images bit-identical to those of a scheduler built from scratch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler

from studio.core.params import ScheduleOptions
from studio.core.samplers import ModelKind
from studio.engine import samplers
from studio.engine.samplers import SamplerError, available_samplers, make_scheduler
from studio.engine.scheduler_cache import SCHEDULERS, SchedulerCache
from tests.engine.tiny import tiny_emoji_scheduler

VP = available_samplers(ModelKind.vp)


def emoji_base() -> dict:
    scheduler = tiny_emoji_scheduler()
    return {**scheduler.config, "_class_name": type(scheduler).__name__}


def state_of(scheduler) -> dict:
    return {k: v for k, v in vars(scheduler).items() if k != "_internal_dict"}


def assert_same_state(a, b) -> None:
    assert type(a) is type(b)
    assert dict(a.config) == dict(b.config)
    left, right = state_of(a), state_of(b)
    assert left.keys() == right.keys()
    for key, value in left.items():
        other = right[key]
        if isinstance(value, torch.Tensor):
            assert value.dtype == other.dtype and torch.equal(value, other), key
            assert value.data_ptr() != other.data_ptr() or value.numel() == 0, key
        elif isinstance(value, np.ndarray):
            assert np.array_equal(value, other), key
        else:
            assert value == other, key


def uncached(base: dict, name: str):
    """The scheduler `make_scheduler` built before the cache: `from_config` every time."""
    previous = SCHEDULERS.capacity
    SCHEDULERS.capacity = 0
    try:
        return make_scheduler(base, name, ScheduleOptions(), ModelKind.vp)
    finally:
        SCHEDULERS.capacity = previous


@pytest.mark.parametrize("spec", VP, ids=lambda s: s.name.replace(" ", "_"))
def test_every_sampler_gets_a_fresh_copy_equal_to_a_new_build(spec):
    base = emoji_base()
    try:
        first = make_scheduler(base, spec, ScheduleOptions(), ModelKind.vp)
    except SamplerError:
        pytest.skip("refused for zero-terminal-SNR models")
    second = make_scheduler(base, spec, ScheduleOptions(), ModelKind.vp)
    assert second is not first
    assert_same_state(first, second)
    assert_same_state(uncached(base, spec.name), second)


def test_a_used_scheduler_leaves_the_next_one_untouched():
    base = emoji_base()
    used = make_scheduler(base, "DPM++ 2M", ScheduleOptions(), ModelKind.vp)
    used.set_timesteps(4)
    used.step(torch.ones(1, 3, 4, 4), used.timesteps[0], torch.zeros(1, 3, 4, 4))
    used.alphas_cumprod[0] = -1.0
    used.marker = "attached by a knob"
    fresh = make_scheduler(base, "DPM++ 2M", ScheduleOptions(), ModelKind.vp)
    assert fresh.num_inference_steps is None
    assert not hasattr(fresh, "marker")
    assert fresh.alphas_cumprod[0] > 0
    assert all(output is None for output in fresh.model_outputs)
    assert_same_state(uncached(base, "DPM++ 2M"), fresh)


def test_images_are_bit_identical_to_an_uncached_scheduler(tiny_emoji_pipe):
    base = emoji_base()

    def image(scheduler) -> np.ndarray:
        tiny_emoji_pipe.scheduler = scheduler
        return tiny_emoji_pipe(
            "a cat",
            num_inference_steps=3,
            guidance_scale=2.0,
            generator=torch.Generator().manual_seed(3),
            output_type="np",
        ).images

    reference = image(uncached(base, "DPM++ 2M"))
    for _ in range(2):
        cached = make_scheduler(base, "DPM++ 2M", ScheduleOptions(), ModelKind.vp)
        assert np.array_equal(image(cached), reference)


def test_cache_counts_bounds_and_keys_apart_what_equality_merges():
    cache = SchedulerCache(capacity=2)
    cache.build(DDIMScheduler, {"clip_sample": True}, {})
    cache.build(DDIMScheduler, {"clip_sample": True}, {})
    assert (cache.hits, cache.misses, len(cache)) == (1, 1, 1)
    one = cache.build(DDIMScheduler, {"clip_sample": 1}, {})
    assert one.config.clip_sample == 1 and cache.misses == 2
    cache.build(DDIMScheduler, {}, {"num_train_timesteps": 500})
    assert len(cache) == 2
    cache.clear()
    assert len(cache) == 0


def test_unkeyable_configs_are_built_every_time():
    cache = SchedulerCache()
    betas = np.linspace(1e-4, 0.02, 1000)
    built = cache.build(DDIMScheduler, {"trained_betas": betas}, {})
    assert torch.allclose(built.betas, torch.tensor(betas, dtype=torch.float32))
    assert len(cache) == 0 and cache.misses == 0


def test_zero_snr_betas_come_from_the_cache_unchanged():
    base = emoji_base()
    previous = SCHEDULERS.capacity
    SCHEDULERS.capacity = 0
    try:
        reference = samplers.zero_snr_betas(base)
    finally:
        SCHEDULERS.capacity = previous
    assert samplers.zero_snr_betas(base) == reference
    assert samplers.zero_snr_betas(base) == reference
