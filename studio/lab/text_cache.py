"""Caption variants for training and their precomputed text-encoder states."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from studio.engine.text_encoder import encode_prompts, load_text_encoder

EMPTY = ""


@dataclass(frozen=True, slots=True)
class PromptTable:
    """Every distinct training prompt encoded once: token states, masks and pooled vectors."""

    prompts: tuple[str, ...]
    states: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor

    def index(self, prompt: str) -> int:
        return self.prompts.index(prompt)


def caption_variants(name: str, group: str, subgroup: str, style: str) -> tuple[str, ...]:
    """The full caption first, then shorter forms a user might type."""
    return (
        f"{name}, {group}, {subgroup}, {style}",
        f"{name}, {style}",
        name,
    )


def _digest(prompts: tuple[str, ...]) -> str:
    return hashlib.sha256("\n".join(prompts).encode()).hexdigest()[:16]


def _encode_all(prompts: tuple[str, ...], batch: int = 256) -> dict[str, torch.Tensor]:
    model, tokenizer = load_text_encoder()
    parts = [
        encode_prompts(model, tokenizer, list(prompts[i : i + batch]))
        for i in range(0, len(prompts), batch)
    ]
    return {
        "states": torch.cat([p[0] for p in parts]).to(torch.float16),
        "mask": torch.cat([p[1] for p in parts]).to(torch.int8),
        "pooled": torch.cat([p[2] for p in parts]).to(torch.float16),
    }


def build_prompt_table(prompts: list[str], cache_dir: Path) -> PromptTable:
    """Encode the distinct prompts (plus the empty one), reusing a cache keyed by their text."""
    unique = tuple(dict.fromkeys([EMPTY, *prompts]))
    path = cache_dir / f"prompts-{_digest(unique)}.safetensors"
    if path.exists():
        tensors = load_file(path)
    else:
        tensors = _encode_all(unique)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file(tensors, tmp)
        tmp.replace(path)
    return PromptTable(unique, tensors["states"], tensors["mask"], tensors["pooled"])


def variant_indices(table: PromptTable, variants: list[tuple[str, ...]]) -> np.ndarray:
    """An (N, V) array: for each image, the table rows of its caption variants."""
    lookup = {p: i for i, p in enumerate(table.prompts)}
    return np.array([[lookup[v] for v in row] for row in variants], dtype=np.int64)
