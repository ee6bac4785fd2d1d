"""The clean samples and the conditioned model calls a Gamma estimate needs, per pipeline.

Where x0 comes from:
- The embedded emoji models (EmojiPipeline) use rows of the emoji dataset cache when it exists:
  the images the model was trained on, each with its own caption.
- Otherwise, and for every other model, the model's own samples stand in for the data: DPM++ 2M,
  25 steps, deterministic, guidance 1, from a fixed prompt list. Guidance 1 because the estimate
  calls the model without guidance too. The bias: Gamma then describes the model's own sample
  distribution, not its training data, so the variance fits what the model generates; a weak
  model is measured against its own weak samples, and a short prompt list narrows the
  conditions the table has seen.

Supported pipelines: EmojiPipeline and Stable Diffusion 1.x/2.x (a UNet with only
cross-attention conditioning). Others get a SamplerError in one sentence.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import StableDiffusionPipeline
from platformdirs import user_cache_dir

from studio.engine.analytic.estimate import CleanData, Denoiser, EstimateOptions, ProgressHook
from studio.engine.emoji_model import to_latents
from studio.engine.emoji_pipeline import EmojiPipeline
from studio.engine.samplers import SamplerError, make_scheduler

EMOJI_DATASET_NAME = "emoji-32-noto-twemoji.npz"
PROXY_SAMPLER = "DPM++ 2M"
PROXY_STEPS = 25
EMOJI_PROMPTS = (
    "grinning face, smileys & emotion, face smiling, noto style",
    "red heart, smileys & emotion, heart, twemoji style",
    "dog face, animals & nature, animal mammal, noto style",
    "pizza, food & drink, food prepared, twemoji style",
    "rocket, travel & places, transport air, noto style",
    "sun, travel & places, sky & weather, twemoji style",
    "soccer ball, activities, sport, noto style",
    "musical note, objects, music, twemoji style",
)
GENERAL_PROMPTS = (
    "a photograph of a cat sitting on a windowsill",
    "a landscape painting of mountains at sunset",
    "a portrait of an old fisherman",
    "a bowl of fruit on a wooden table",
    "a city street at night in the rain",
    "a watercolor of wild flowers",
    "a red sports car on a coastal road",
    "an astronaut floating above the earth",
)


def default_emoji_dataset() -> Path:
    """The emoji dataset cache as `studio.lab.emoji_build.build_dataset` writes it by default."""
    return Path(user_cache_dir("studio")) / "datasets" / EMOJI_DATASET_NAME


class EmojiDenoiser:
    """Calls an EmojiPipeline's UNet on given rows, with the rows' prompts encoded once."""

    def __init__(self, pipe: EmojiPipeline, prompts: Sequence[str]) -> None:
        self.unet = pipe.unet
        self.states, self.mask, self.pooled = pipe.encode_prompt(list(prompts), [], False)

    def __call__(self, x_t: torch.Tensor, t: int, rows: slice) -> torch.Tensor:
        x = x_t.to(self.unet.device, self.unet.dtype)
        steps = torch.full((len(x),), t, device=x.device)
        return self.unet(
            x,
            steps,
            encoder_hidden_states=self.states[rows],
            encoder_attention_mask=self.mask[rows],
            class_labels=self.pooled[rows],
        ).sample.float()


class CrossAttentionDenoiser:
    """Calls a Stable Diffusion 1.x/2.x UNet on given rows, with prompts encoded once."""

    def __init__(self, pipe: StableDiffusionPipeline, prompts: Sequence[str]) -> None:
        self.unet = pipe.unet
        self.embeds = pipe.encode_prompt(list(prompts), pipe.device, 1, False)[0]

    def __call__(self, x_t: torch.Tensor, t: int, rows: slice) -> torch.Tensor:
        x = x_t.to(self.unet.device, self.unet.dtype)
        steps = torch.full((len(x),), t, device=x.device)
        return self.unet(x, steps, encoder_hidden_states=self.embeds[rows]).sample.float()


def plain_cross_attention(pipe: Any) -> bool:
    """A Stable Diffusion 1.x/2.x UNet conditioned by cross-attention alone."""
    if not isinstance(pipe, StableDiffusionPipeline):
        return False
    config = pipe.unet.config
    extras = (config.addition_embed_type, config.time_cond_proj_dim, config.class_embed_type)
    return all(e is None for e in extras)


def check_supported(pipe: Any, model_name: str) -> None:
    """Raise SamplerError unless the studio can call this pipeline's model for an estimate."""
    if isinstance(pipe, EmojiPipeline) or plain_cross_attention(pipe):
        return
    raise SamplerError(
        f"Analytic variance needs a Gamma table, which the studio can estimate for the embedded "
        f"emoji models and Stable Diffusion 1.x/2.x only; {model_name} is a "
        f"{type(pipe).__name__}."
    )


def denoiser_for(pipe: Any, prompts: Sequence[str]) -> Denoiser:
    if isinstance(pipe, EmojiPipeline):
        return EmojiDenoiser(pipe, prompts)
    return CrossAttentionDenoiser(pipe, prompts)


def uses_dataset(pipe: Any, dataset: Path | None) -> bool:
    return isinstance(pipe, EmojiPipeline) and dataset is not None and dataset.is_file()


def source_id(pipe: Any, dataset: Path | None) -> str:
    """Names the data the estimate will use, cheaply (part of the cache key)."""
    if dataset is not None and uses_dataset(pipe, dataset):
        return f"emoji dataset {dataset.name} ({dataset.stat().st_size} bytes)"
    return f"model samples ({PROXY_SAMPLER}, {PROXY_STEPS} steps, guidance 1)"


def read_emoji_rows(path: Path, count: int, seed: int) -> tuple[torch.Tensor, list[str]]:
    """`count` seeded rows of the emoji dataset: model-space images and their captions."""
    try:
        with np.load(path, allow_pickle=False) as data:
            total = len(data["captions"])
            rows = np.sort(np.random.default_rng(seed).choice(total, min(count, total), False))
            images = torch.from_numpy(np.ascontiguousarray(data["images"][rows]))
            captions = [str(c) for c in data["captions"][rows].tolist()]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise SamplerError(
            f"The emoji dataset {path} cannot be read ({exc}); rebuild it with "
            "studio dataset --force, or delete it to use model samples."
        ) from exc
    pixels = images.permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return to_latents(pixels), captions


def proxy_prompts(pipe: Any, count: int) -> list[str]:
    prompts = EMOJI_PROMPTS if isinstance(pipe, EmojiPipeline) else GENERAL_PROMPTS
    return [prompts[i % len(prompts)] for i in range(count)]


@torch.no_grad()
def model_samples(
    pipe: Any,
    denoise: Denoiser,
    base_config: dict[str, Any],
    options: EstimateOptions,
    on_progress: ProgressHook | None = None,
) -> torch.Tensor:
    """`options.samples` clean samples from the model itself (the data proxy)."""
    unet = pipe.unet
    shape = (unet.config.in_channels, unet.config.sample_size, unet.config.sample_size)
    generator = torch.Generator("cpu").manual_seed(options.seed)
    step = max(1, options.batch_size)
    batches = [slice(i, min(i + step, options.samples)) for i in range(0, options.samples, step)]
    out = []
    for done, rows in enumerate(batches, start=1):
        scheduler = make_scheduler(base_config, PROXY_SAMPLER)
        scheduler.set_timesteps(PROXY_STEPS, device=unet.device)
        noise = torch.randn((rows.stop - rows.start, *shape), generator=generator)
        x = noise.to(unet.device) * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            output = denoise(scheduler.scale_model_input(x, t), int(t), rows)
            x = scheduler.step(output, t, x).prev_sample
        out.append(x.float())
        if on_progress is not None:
            on_progress(done, len(batches))
    return torch.cat(out)


def clean_data(
    pipe: Any,
    base_config: dict[str, Any],
    options: EstimateOptions,
    dataset: Path | None,
    on_progress: ProgressHook | None = None,
) -> tuple[Denoiser, CleanData]:
    """The conditioned model call and the clean samples for one model's estimate."""
    device = pipe.unet.device
    if dataset is not None and uses_dataset(pipe, dataset):
        x0, captions = read_emoji_rows(dataset, options.samples, options.seed)
        return denoiser_for(pipe, captions), CleanData(x0.to(device), source_id(pipe, dataset))
    denoise = denoiser_for(pipe, proxy_prompts(pipe, options.samples))
    x0 = model_samples(pipe, denoise, base_config, options, on_progress)
    return denoise, CleanData(x0, source_id(pipe, dataset))
