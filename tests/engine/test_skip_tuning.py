"""Skip-Tuning hooks on tiny random UNets: exact identity at 1.0, per-level scaling, removal."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from diffusers import SD3Transformer2DModel, UNet2DConditionModel, UNet2DModel

from studio.core.params import ValidationError
from studio.core.skip_tuning import SkipTuning
from studio.engine.emoji_model import LATENT_CHANNELS, LATENT_SIZE, TEXT_DIM
from studio.engine.skip_tuning import SkipTuningHooks, skip_blocks, skip_tuned
from tests.engine.tiny import tiny_emoji_unet_config

Call = Callable[[], torch.Tensor]


def pre_hook_count(model: torch.nn.Module) -> int:
    return sum(len(m._forward_pre_hooks) for m in model.modules())


def emoji_unet() -> tuple[UNet2DConditionModel, Call]:
    torch.manual_seed(0)
    config = {**tiny_emoji_unet_config(), "block_out_channels": (8, 16, 16)}
    config["down_block_types"] = ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D")
    config["up_block_types"] = ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D")
    unet = UNet2DConditionModel(**config).eval()
    sample = torch.randn(2, LATENT_CHANNELS, LATENT_SIZE, LATENT_SIZE)
    text, pooled = torch.randn(2, 5, TEXT_DIM), torch.randn(2, TEXT_DIM)

    @torch.no_grad()
    def call() -> torch.Tensor:
        return unet(sample, 500, encoder_hidden_states=text, class_labels=pooled).sample

    return unet, call


def pixel_unet() -> tuple[UNet2DModel, Call]:
    torch.manual_seed(0)
    unet = UNet2DModel(
        sample_size=16,
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=4,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    ).eval()
    sample = torch.randn(2, 3, 16, 16)

    @torch.no_grad()
    def call() -> torch.Tensor:
        return unet(sample, 500).sample

    return unet, call


UNETS = {"conditional": emoji_unet, "unconditional": pixel_unet}


@pytest.fixture(params=sorted(UNETS))
def unet_and_call(request) -> tuple[torch.nn.Module, Call]:
    return UNETS[request.param]()


def record_skips(unet: torch.nn.Module) -> tuple[list[list[torch.Tensor]], list]:
    """What each up block receives, recorded by pre-hooks that run after any installed before."""
    seen: list[list[torch.Tensor]] = [[] for _ in skip_blocks(unet)]

    def recorder(index: int):
        def hook(module, args, kwargs):
            skips = kwargs.get("res_hidden_states_tuple", args[1] if len(args) > 1 else ())
            seen[index] = [t.clone() for t in skips]

        return hook

    handles = [
        block.register_forward_pre_hook(recorder(i), with_kwargs=True)
        for i, block in enumerate(skip_blocks(unet))
    ]
    return seen, handles


def test_every_up_block_is_one_resolution_level_innermost_first(unet_and_call) -> None:
    unet, call = unet_and_call
    seen, handles = record_skips(unet)
    call()
    for handle in handles:
        handle.remove()
    sides = [{t.shape[-1] for t in skips} for skips in seen]
    assert all(len(side) == 1 for side in sides), "one resolution per up block"
    widths = [side.pop() for side in sides]
    assert widths == sorted(widths) and len(set(widths)) == len(widths)


def test_factors_of_one_are_bit_identical_to_no_hook(unet_and_call) -> None:
    unet, call = unet_and_call
    plain = call()
    with SkipTuningHooks(unet, SkipTuning()) as hooks:
        assert hooks.installed and pre_hook_count(unet) == len(skip_blocks(unet))
        hooked = call()
    assert torch.equal(plain, hooked)


def test_each_level_gets_its_factor_and_the_output_changes(unet_and_call) -> None:
    unet, call = unet_and_call
    plain_skips, handles = record_skips(unet)
    plain = call()
    for handle in handles:
        handle.remove()
    config = SkipTuning(rho_top=1.1, rho_bottom=0.8)
    with SkipTuningHooks(unet, config) as hooks:
        tuned_skips, handles = record_skips(unet)
        tuned = call()
        for handle in handles:
            handle.remove()
    innermost_first = tuple(reversed(config.factors(len(plain_skips))))
    assert hooks.block_factors == innermost_first
    assert innermost_first[0] == 0.8 and innermost_first[-1] == 1.1
    for factor, before, after in zip(innermost_first, plain_skips, tuned_skips, strict=True):
        for a, b in zip(before, after, strict=True):
            assert torch.equal(a * factor, b)
    assert not torch.allclose(plain, tuned)


def test_hooks_are_gone_after_the_block_and_the_model_is_untouched(unet_and_call) -> None:
    unet, call = unet_and_call
    plain = call()
    before = pre_hook_count(unet)
    with skip_tuned(unet, SkipTuning(rho_bottom=0.7)) as hooks:
        assert hooks is not None and pre_hook_count(unet) > before
    assert pre_hook_count(unet) == before and not hooks.installed
    assert torch.equal(call(), plain)


def test_hooks_are_gone_after_a_failure(unet_and_call) -> None:
    unet, _ = unet_and_call
    with pytest.raises(RuntimeError, match="boom"), skip_tuned(unet, SkipTuning(rho_top=0.9)):
        raise RuntimeError("boom")
    assert pre_hook_count(unet) == 0


def test_a_disabled_config_installs_nothing(unet_and_call) -> None:
    unet, _ = unet_and_call
    with skip_tuned(unet, SkipTuning()) as hooks:
        assert hooks is None and pre_hook_count(unet) == 0


def test_remove_twice_is_harmless(unet_and_call) -> None:
    unet, _ = unet_and_call
    hooks = SkipTuningHooks(unet, SkipTuning(rho_bottom=0.9))
    hooks.remove()
    hooks.remove()
    assert pre_hook_count(unet) == 0


def test_an_invalid_config_is_refused_before_any_hook() -> None:
    unet, _ = emoji_unet()
    with pytest.raises(ValidationError, match="bottom factor 3 is out of range"):
        SkipTuningHooks(unet, SkipTuning(rho_bottom=3))
    assert pre_hook_count(unet) == 0


def test_a_model_without_skips_is_refused_in_one_sentence() -> None:
    transformer = SD3Transformer2DModel(
        sample_size=8,
        patch_size=1,
        in_channels=4,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=2,
        caption_projection_dim=16,
        joint_attention_dim=16,
        pooled_projection_dim=16,
        out_channels=4,
    )
    assert skip_blocks(transformer) == []
    with pytest.raises(ValidationError) as caught:
        SkipTuningHooks(transformer, SkipTuning(rho_bottom=0.9))
    assert caught.value.problems == (
        "Skip-Tuning needs a UNet with skip connections, and this model's"
        " SD3Transformer2DModel has none: set both Skip-Tuning factors to 1.",
    )
