"""Contact sheets: every model of a list on the same prompts and starting noise, labelled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from studio.core.atomic import atomic_write
from studio.core.models import ModelRef
from studio.core.settings import LaneRecipe
from studio.lab.evaluate import EvalItem, generate_set
from studio.lab.sheets import SHEET_PROMPTS

TILE = 96
LABEL_WIDTH = 230
HEADER = 34
PAD = 4
BACKGROUND = (236, 236, 236)
INK = (30, 30, 30)


def sheet_items(count: int = len(SHEET_PROMPTS)) -> list[EvalItem]:
    """The fixed sheet prompts (those the training sheets show), seed = column index."""
    return [EvalItem(prompt, -1, seed) for seed, prompt in enumerate(SHEET_PROMPTS[:count])]


def _concept(prompt: str) -> str:
    return prompt.split(",")[0]


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def compose(rows: list[tuple[str, np.ndarray]], prompts: list[str]) -> Image.Image:
    """Rows of (label, N x H x W x 3 images) under one header of concept names."""
    columns = len(prompts)
    width = LABEL_WIDTH + columns * (TILE + PAD) + PAD
    height = HEADER + len(rows) * (TILE + PAD) + PAD
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    small, label_font = _font(11), _font(13)
    for col, prompt in enumerate(prompts):
        x = LABEL_WIDTH + col * (TILE + PAD) + PAD
        style = "twemoji" if "twemoji" in prompt else "noto" if "noto" in prompt else ""
        draw.text((x, 4), _concept(prompt)[:16], fill=INK, font=small)
        draw.text((x, 18), style, fill=(110, 110, 110), font=small)
    for row, (label, images) in enumerate(rows):
        y = HEADER + row * (TILE + PAD)
        draw.multiline_text((6, y + 8), label, fill=INK, font=label_font, spacing=3)
        for col, image in enumerate(images):
            tile = Image.fromarray(image).resize((TILE, TILE), Image.Resampling.NEAREST)
            canvas.paste(tile, (LABEL_WIDTH + col * (TILE + PAD) + PAD, y))
    return canvas


def row_label(name: str, recipe: LaneRecipe, seconds: float | None = None) -> str:
    lines = [
        name,
        f"{recipe.sampler}, {recipe.num_inference_steps} steps",
        f"CFG {recipe.guidance_scale:g}",
    ]
    if seconds is not None:
        lines[-1] += f" · {seconds:.2f} s / image"
    return "\n".join(lines)


def contact_sheet(
    runner, models: list[tuple[str, LaneRecipe]], out: Path, count: int = len(SHEET_PROMPTS)
) -> Path:
    """Generate each model's row through the engine's runner and write the labelled PNG."""
    import time

    items = sheet_items(count)
    rows = []
    for name, recipe in models:
        started = time.perf_counter()
        images = generate_set(runner, ModelRef.embedded(name), recipe, items)
        seconds = (time.perf_counter() - started) / len(items)
        rows.append((row_label(name, recipe, seconds), images))
    sheet = compose(rows, [item.prompt for item in items])
    return atomic_write(out, lambda handle: sheet.save(handle, format="PNG"))
