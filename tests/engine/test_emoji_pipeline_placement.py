"""The emoji pipeline looks its device and dtype up once, and again when they change."""

from __future__ import annotations

import torch
from diffusers import UNet2DConditionModel

from studio.engine.emoji_pipeline import EmojiPipeline
from tests.engine.tiny import build_tiny_emoji_pipeline, tiny_emoji_unet_config


def test_the_placement_is_looked_up_once_while_nothing_moves(monkeypatch):
    pipe = build_tiny_emoji_pipeline()
    walks: list[int] = []
    walked = EmojiPipeline.device

    def counting(self):
        walks.append(1)
        return walked.fget(self)

    monkeypatch.setattr(EmojiPipeline, "device", property(counting))
    first = pipe.placement()
    assert first == (torch.device("cpu"), torch.float32) and len(walks) == 1
    pipe("a cat", num_inference_steps=2, output_type="np")
    assert pipe.placement() == first and len(walks) == 1


def test_the_placement_follows_a_new_dtype_and_a_new_unet():
    pipe = build_tiny_emoji_pipeline()
    assert pipe.placement() == (torch.device("cpu"), torch.float32)
    pipe.unet.to(torch.float64)
    assert pipe.placement() == (torch.device("cpu"), torch.float64)
    pipe.unet = UNet2DConditionModel(**tiny_emoji_unet_config()).to(torch.bfloat16)
    assert pipe.placement() == (torch.device("cpu"), torch.bfloat16)
    image = pipe("a cat", num_inference_steps=1, output_type="np").images
    assert image.shape == (1, 32, 32, 3)
