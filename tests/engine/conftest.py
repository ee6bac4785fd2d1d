"""Engine test fixtures: tiny seeded pipelines in memory and saved as diffusers folders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers import StableDiffusion3Pipeline, StableDiffusionPipeline

from studio.engine.emoji_pipeline import EmojiPipeline
from tests.engine.tiny import (
    build_tiny_emoji_pipeline,
    build_tiny_sd3_pipeline,
    build_tiny_sd_pipeline,
    save_tiny_emoji_pipeline,
    save_tiny_sd3_pipeline,
    save_tiny_sd_pipeline,
)

# Tiny models run in milliseconds on one thread; with more, OpenMP spin-waits against the
# other busy cores and one 2-step call takes seconds.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_sd_pipe() -> StableDiffusionPipeline:
    return build_tiny_sd_pipeline()


@pytest.fixture(scope="session")
def tiny_emoji_pipe() -> EmojiPipeline:
    return build_tiny_emoji_pipeline()


@pytest.fixture(scope="session")
def tiny_sd3_pipe() -> StableDiffusion3Pipeline:
    return build_tiny_sd3_pipeline()


@pytest.fixture(scope="session")
def tiny_sd_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_sd_pipeline(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture(scope="session")
def tiny_emoji_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_emoji_pipeline(tmp_path_factory.mktemp("models") / "tiny-emoji")


@pytest.fixture(scope="session")
def tiny_sd3_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_sd3_pipeline(tmp_path_factory.mktemp("models") / "tiny-sd3")
