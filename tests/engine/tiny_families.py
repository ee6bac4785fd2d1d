"""Tiny offline stand-ins for each preset family, and tiny adapters of each kind.

SD1.5, SD2 and SDXL come from `tests.engine.tiny`; here are the LCM pipeline (a UNet with a
guidance embedding), Flux (a tiny T5 encoder with a tokenizer built from a small in-memory
unigram vocabulary, so nothing is downloaded), tiny LoRA files written by diffusers' own
`save_lora_weights` from a peft adapter, and tiny full-UNet files.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    FlowMatchEulerDiscreteScheduler,
    FluxPipeline,
    FluxTransformer2DModel,
    LatentConsistencyModelPipeline,
    LCMScheduler,
    UNet2DConditionModel,
)
from peft import LoraConfig, get_peft_model_state_dict
from safetensors.torch import save_file
from transformers import CLIPTextModel, T5Config, T5EncoderModel, T5Tokenizer

from tests.engine.tiny import (
    _tiny_text_config,
    _tiny_text_encoder,
    _tiny_vae,
    tiny_tokenizer,
)

TEXT_HIDDEN = 32
T5_TOKENS = 16
LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def tiny_lcm_unet(time_cond_proj_dim: int = 8) -> UNet2DConditionModel:
    """An SD1.5-shaped UNet with LCM's guidance embedding (w is an input, not CFG)."""
    return UNet2DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=TEXT_HIDDEN,
        norm_num_groups=2,
        time_cond_proj_dim=time_cond_proj_dim,
    )


def build_tiny_lcm_pipeline(seed: int = 0) -> LatentConsistencyModelPipeline:
    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer()
    pipe = LatentConsistencyModelPipeline(
        vae=_tiny_vae(),
        text_encoder=_tiny_text_encoder(tokenizer),
        tokenizer=tokenizer,
        unet=tiny_lcm_unet(),
        scheduler=LCMScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
        ),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_t5_tokenizer() -> T5Tokenizer:
    """A unigram T5 tokenizer over lowercase letters, built in memory."""
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)]
    pieces += [(chr(c), -2.0) for c in range(ord("a"), ord("z") + 1)]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=T5_TOKENS)


def build_tiny_flux_pipeline(seed: int = 0, *, guidance: bool) -> FluxPipeline:
    """A Flux-shaped pipeline: CLIP for the pooled text, a tiny T5 for the sequence, a tiny
    MMDiT. `guidance` makes a dev-like model (embedded guidance, resolution-dependent shift);
    without it a schnell-like one (no guidance input, fixed shift 1)."""
    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer()
    t5 = tiny_t5_tokenizer()
    t5_config = T5Config(vocab_size=len(t5), d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=2)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=16,
        pooled_projection_dim=TEXT_HIDDEN,
        guidance_embeds=guidance,
        axes_dims_rope=(4, 4, 8),
    )
    scheduler = FlowMatchEulerDiscreteScheduler(
        shift=3.0 if guidance else 1.0, use_dynamic_shifting=guidance
    )
    pipe = FluxPipeline(
        scheduler=scheduler,
        vae=AutoencoderKL(
            sample_size=32,
            in_channels=3,
            out_channels=3,
            block_out_channels=(4,),
            layers_per_block=1,
            latent_channels=1,
            norm_num_groups=1,
            use_quant_conv=False,
            use_post_quant_conv=False,
            shift_factor=0.0609,
            scaling_factor=1.5035,
        ),
        text_encoder=CLIPTextModel(_tiny_text_config(tokenizer)).eval(),
        tokenizer=tokenizer,
        text_encoder_2=T5EncoderModel(t5_config).eval(),
        tokenizer_2=t5,
        transformer=transformer,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


# --- tiny adapters -----------------------------------------------------------------------------


def save_tiny_lora(pipe, path: Path, seed: int = 1, rank: int = 2) -> Path:
    """A random LoRA on the pipeline's denoiser attention, written in diffusers' LoRA format by
    the pipeline class's own `save_lora_weights` (as published LoRA files are)."""
    denoiser = getattr(pipe, "unet", None) or pipe.transformer
    copy = type(denoiser).from_config(denoiser.config)
    torch.manual_seed(seed)
    copy.add_adapter(
        LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False, target_modules=LORA_TARGETS)
    )
    layers = get_peft_model_state_dict(copy)
    key = (
        "unet_lora_layers" if getattr(pipe, "unet", None) is not None else "transformer_lora_layers"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    type(pipe).save_lora_weights(
        path.parent, weight_name=path.name, safe_serialization=True, **{key: layers}
    )
    return path


def perturbed_unet(unet: UNet2DConditionModel, seed: int = 2, noise: float = 0.05):
    """A copy of `unet` with every weight moved a little: a distinct student of the same shape."""
    copy = type(unet).from_config(unet.config)
    copy.load_state_dict(unet.state_dict())
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in copy.parameters():
            p.add_(noise * torch.randn(p.shape, generator=gen))
    return copy


def save_tiny_unet(unet: UNet2DConditionModel, path: Path, *, pickle: bool = False) -> Path:
    """The UNet's weights as one file (safetensors, or a torch.save pickle like DMD2's .bin),
    with its config.json beside it (used only by presets whose UNet brings its own config)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone().contiguous() for k, v in unet.state_dict().items()}
    if pickle:
        torch.save(state, path)
    else:
        save_file(state, str(path))
    config = {"_class_name": type(unet).__name__, **dict(unet.config)}
    (path.parent / "config.json").write_text(json.dumps(config, default=list))
    return path
