"""The embedded model's text encoder: all-MiniLM-L6-v2 from the pinned offline package."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from transformers import BertModel

from studio.engine.encoder_files import encoder_dir, verified
from studio.engine.modules import moved
from studio.engine.quiet import quiet_loading

if TYPE_CHECKING:
    # transformers 5 keeps BertTokenizerFast only as a runtime alias of BertTokenizer, outside
    # the names it declares to type checkers.
    from transformers import BertTokenizer as BertTokenizerFast
else:
    from transformers import BertTokenizerFast

MAX_TOKENS = 24


def load_text_encoder(dtype: torch.dtype = torch.float32) -> tuple[BertModel, BertTokenizerFast]:
    """The frozen encoder and its tokenizer, checked against the pinned sha256."""
    path = verified(encoder_dir())
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
