"""Sample sheets: a grid of generated emoji for a fixed prompt list, to look at during training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from diffusers import DDIMScheduler
from diffusers.pipelines.pipeline_utils import ImagePipelineOutput
from PIL import Image

from studio.engine.emoji_model import SCHEDULE_CONFIG
from studio.engine.emoji_pipeline import EmojiPipeline
from studio.engine.text_encoder import load_text_encoder

SHEET_PROMPTS = (
    "grinning face, smileys & emotion, face smiling, noto style",
    "red heart, smileys & emotion, heart, noto style",
    "dog face, animals & nature, animal mammal, noto style",
    "pizza, food & drink, food prepared, noto style",
    "rocket, travel & places, transport air, noto style",
    "sun, travel & places, sky & weather, noto style",
    "soccer ball, activities, sport, noto style",
    "thumbs up, people & body, hand fingers closed, noto style",
    "grinning face, smileys & emotion, face smiling, twemoji style",
    "red apple, food & drink, food fruit, twemoji style",
    "cat face, animals & nature, animal mammal, twemoji style",
    "automobile, travel & places, transport ground, twemoji style",
    "fire, travel & places, sky & weather, twemoji style",
    "flag: japan, flags, country flag, twemoji style",
    "crying face",
    "banana",
)


def grid(images: list[np.ndarray], columns: int, scale: int = 2, pad: int = 2) -> Image.Image:
    """Tile equal-size uint8 HxWx3 images on a light grey canvas, upscaled by nearest."""
    h, w = images[0].shape[:2]
    rows = -(-len(images) // columns)
    canvas = Image.new(
        "RGB", (columns * (w * scale + pad) + pad, rows * (h * scale + pad) + pad), (200, 200, 200)
    )
    for i, img in enumerate(images):
        tile = Image.fromarray(img).resize((w * scale, h * scale), Image.Resampling.NEAREST)
        canvas.paste(
            tile,
            (pad + (i % columns) * (w * scale + pad), pad + (i // columns) * (h * scale + pad)),
        )
    return canvas


def pipeline_for(unet, scheduler=None) -> EmojiPipeline:
    encoder, tokenizer = load_text_encoder()
    scheduler = scheduler or DDIMScheduler(**SCHEDULE_CONFIG)
    pipe = EmojiPipeline(
        unet=unet, scheduler=scheduler, text_encoder=encoder.to(unet.device), tokenizer=tokenizer
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def sample_sheet(
    unet, path: Path, steps: int = 25, guidance: float = 3.0, seed: int = 0, scheduler=None
) -> Path:
    pipe = pipeline_for(unet, scheduler)
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn((len(SHEET_PROMPTS), 12, 16, 16), generator=gen)
    out = pipe(
        list(SHEET_PROMPTS),
        num_inference_steps=steps,
        guidance_scale=guidance,
        latents=noise,
        output_type="np",
    )
    assert isinstance(out, ImagePipelineOutput) and isinstance(out.images, np.ndarray)
    images = [(im * 255).round().astype(np.uint8) for im in out.images]
    path.parent.mkdir(parents=True, exist_ok=True)
    grid(images, columns=8, scale=3).save(path)
    return path
