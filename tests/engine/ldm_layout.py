"""Diffusers -> original (CompVis LDM / Stability SGM) key layout, for writing test checkpoints.

diffusers converts original single-file checkpoints into its own layout; this is the reverse,
for tests only: it writes the tiny pipelines as the single files a user would download
(`model.diffusion_model.*`, `first_stage_model.*`, `cond_stage_model.*`, `conditioner.*`).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from safetensors.torch import save_file

UNET = "model.diffusion_model."
VAE = "first_stage_model."
SD1_TEXT = "cond_stage_model.transformer."
SD2_TEXT = "cond_stage_model.model."
SDXL_TEXT = "conditioner.embedders.0.transformer."
SDXL_TEXT_2 = "conditioner.embedders.1.model."

UNET_DIRECT = {
    "time_embedding.linear_1.": "time_embed.0.",
    "time_embedding.linear_2.": "time_embed.2.",
    "add_embedding.linear_1.": "label_emb.0.0.",
    "add_embedding.linear_2.": "label_emb.0.2.",
    "conv_in.": "input_blocks.0.0.",
    "conv_norm_out.": "out.0.",
    "conv_out.": "out.2.",
}
UNET_RESNET = {
    "norm1.": "in_layers.0.",
    "conv1.": "in_layers.2.",
    "norm2.": "out_layers.0.",
    "conv2.": "out_layers.3.",
    "time_emb_proj.": "emb_layers.1.",
    "conv_shortcut.": "skip_connection.",
}
VAE_DIRECT = {"conv_norm_out.": "norm_out."}
VAE_ATTENTION = {
    "group_norm.": "norm.",
    "to_q.": "q.",
    "to_k.": "k.",
    "to_v.": "v.",
    "to_out.0.": "proj_out.",
}
OPEN_CLIP_DIRECT = {
    "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
    "text_model.embeddings.position_embedding.weight": "positional_embedding",
    "text_model.final_layer_norm.weight": "ln_final.weight",
    "text_model.final_layer_norm.bias": "ln_final.bias",
}
OPEN_CLIP_LAYER = {
    "self_attn.out_proj.": "attn.out_proj.",
    "layer_norm1.": "ln_1.",
    "layer_norm2.": "ln_2.",
    "mlp.fc1.": "mlp.c_fc.",
    "mlp.fc2.": "mlp.c_proj.",
}
FUSED = ("self_attn.q_proj.", "self_attn.k_proj.", "self_attn.v_proj.")
BLOCK = re.compile(
    r"^(down_blocks|up_blocks)\.(\d+)\.(resnets|attentions|downsamplers|upsamplers)\.(\d+)\.(.*)$"
)
MID = re.compile(r"^mid_block\.(resnets|attentions)\.(\d+)\.(.*)$")


def _rename(rest: str, table: dict[str, str]) -> str:
    for new, old in table.items():
        if rest.startswith(new):
            return old + rest[len(new) :]
    return rest


def _unet_key(key: str, layers: int, up_has_attention: dict[int, bool]) -> str:
    """One diffusers UNet key in the LDM layout (`layers` = layers_per_block)."""
    direct = _rename(key, UNET_DIRECT)
    if direct != key:
        return direct
    if found := MID.match(key):
        kind, index, rest = found.groups()
        if kind == "attentions":
            return f"middle_block.1.{rest}"
        return f"middle_block.{2 * int(index)}.{_rename(rest, UNET_RESNET)}"
    found = BLOCK.match(key)
    if not found:
        raise KeyError(f"no LDM name for UNet key {key}")
    side, block, kind, index, rest = found.groups()
    b, i = int(block), int(index)
    if side == "down_blocks":
        slot = 1 + b * (layers + 1) + (layers if kind == "downsamplers" else i)
        if kind == "downsamplers":
            return f"input_blocks.{slot}.0.op.{rest.removeprefix('conv.')}"
        part = 0 if kind == "resnets" else 1
        return f"input_blocks.{slot}.{part}.{_rename(rest, UNET_RESNET) if part == 0 else rest}"
    if kind == "upsamplers":
        slot = b * (layers + 1) + layers
        return f"output_blocks.{slot}.{2 if up_has_attention[b] else 1}.{rest}"
    slot = b * (layers + 1) + i
    if kind == "resnets":
        return f"output_blocks.{slot}.0.{_rename(rest, UNET_RESNET)}"
    return f"output_blocks.{slot}.1.{rest}"


def unet_to_ldm(unet: torch.nn.Module) -> dict[str, torch.Tensor]:
    config = unet.config  # type: ignore[attr-defined]
    attention = {b: "CrossAttn" in t for b, t in enumerate(config.up_block_types)}
    return {
        UNET + _unet_key(key, config.layers_per_block, attention): value
        for key, value in unet.state_dict().items()
    }


def _vae_key(key: str, up_blocks: int) -> str:
    coder, _, rest = key.partition(".")
    if coder not in {"encoder", "decoder"}:
        return key
    rest = _rename(rest, VAE_DIRECT)
    if found := MID.match(rest):
        kind, index, tail = found.groups()
        if kind == "attentions":
            return f"{coder}.mid.attn_1.{_rename(tail, VAE_ATTENTION)}"
        return f"{coder}.mid.block_{int(index) + 1}.{_vae_resnet(tail)}"
    found = BLOCK.match(rest)
    if not found:
        return f"{coder}.{rest}"
    side, block, kind, index, tail = found.groups()
    level = int(block) if side == "down_blocks" else up_blocks - 1 - int(block)
    name = "down" if side == "down_blocks" else "up"
    if kind in {"downsamplers", "upsamplers"}:
        return f"{coder}.{name}.{level}.{kind[:-2]}.{tail}"
    return f"{coder}.{name}.{level}.block.{index}.{_vae_resnet(tail)}"


def _vae_resnet(rest: str) -> str:
    return _rename(rest, {"conv_shortcut.": "nin_shortcut."})


def vae_to_ldm(vae: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The VAE in LDM layout; attention projections become 1x1 convolutions, as there."""
    up_blocks = len(vae.config.up_block_types)  # type: ignore[attr-defined]
    result = {}
    for key, value in vae.state_dict().items():
        ldm = _vae_key(key, up_blocks)
        if ".mid.attn_1." in ldm and ldm.endswith("weight") and value.ndim == 2:
            value = value[:, :, None, None]
        result[VAE + ldm] = value
    return result


def _text_state(encoder: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The encoder's weights with the `text_model.` prefix (transformers 5.6+ drops it)."""
    result = {}
    for key, value in encoder.state_dict().items():
        named = key if key.startswith(("text_model.", "text_projection.")) else f"text_model.{key}"
        result[named] = value
    return result


def clip_to_ldm(encoder: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """An OpenAI CLIP text encoder as in SD 1.x and SDXL: transformers' names under a prefix."""
    return {
        prefix + key: value
        for key, value in _text_state(encoder).items()
        if not key.startswith("text_projection")
    }


def open_clip_to_ldm(encoder: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """An OpenCLIP text encoder as in SD 2.x and SDXL: fused q/k/v, `resblocks`, and the
    projection as a transposed matrix (a random one when the encoder has none, as SD 2.x keeps
    one that diffusers ignores)."""
    state = _text_state(encoder)
    hidden = state["text_model.final_layer_norm.weight"].shape[0]
    result = {prefix + OPEN_CLIP_DIRECT[k]: v for k, v in state.items() if k in OPEN_CLIP_DIRECT}
    projection = state.get("text_projection.weight", torch.randn(hidden, hidden))
    result[prefix + "text_projection"] = projection.T.contiguous()
    layers = {int(k.split(".")[3]) for k in state if k.startswith("text_model.encoder.layers.")}
    for n in sorted(layers):
        source = f"text_model.encoder.layers.{n}."
        target = f"{prefix}transformer.resblocks.{n}."
        for kind in ("weight", "bias"):
            parts = [state[f"{source}self_attn.{p}_proj.{kind}"] for p in "qkv"]
            result[f"{target}attn.in_proj_{kind}"] = torch.cat(parts)
        for key, value in state.items():
            rest = key.removeprefix(source)
            if rest != key and not rest.startswith(FUSED):
                result[target + _rename(rest, OPEN_CLIP_LAYER)] = value
    return result


def pipeline_to_ldm(pipe: object, family: str) -> dict[str, torch.Tensor]:
    """A whole SD 1.x ("sd1"), SD 2.x ("sd2") or SDXL ("sdxl") pipeline in original layout."""
    state = unet_to_ldm(pipe.unet) | vae_to_ldm(pipe.vae)  # type: ignore[attr-defined]
    encoder = pipe.text_encoder  # type: ignore[attr-defined]
    if family == "sd1":
        return state | clip_to_ldm(encoder, SD1_TEXT)
    if family == "sd2":
        return state | open_clip_to_ldm(encoder, SD2_TEXT)
    second = pipe.text_encoder_2  # type: ignore[attr-defined]
    return state | clip_to_ldm(encoder, SDXL_TEXT) | open_clip_to_ldm(second, SDXL_TEXT_2)


def save_single_file(pipe: object, family: str, path: Path) -> Path:
    state = {k: v.detach().contiguous().clone() for k, v in pipeline_to_ldm(pipe, family).items()}
    save_file(state, str(path))
    return path
