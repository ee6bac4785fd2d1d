"""Tiny seeded random pipelines for engine tests: built on CPU in a fraction of a second, offline.

The shapes follow diffusers' own `get_dummy_components`; the CLIP tokenizer is the tiny one
shipped in `tests/data/tiny-clip-tokenizer`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    DDPMScheduler,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    PNDMScheduler,
    SD3Transformer2DModel,
    StableDiffusion3Pipeline,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from studio.core.manifest import AdapterManifest
from studio.core.models import ModelRef
from studio.engine.emoji_model import LATENT_CHANNELS, LATENT_SIZE, SCHEDULE_CONFIG, TEXT_DIM
from studio.engine.emoji_pipeline import EmojiPipeline
from studio.engine.loading import load_pipeline, shared_text_encoder
from studio.lab.export import export_adapter, export_pipeline

TOKENIZER_DIR = Path(__file__).resolve().parents[1] / "data" / "tiny-clip-tokenizer"
TEXT_HIDDEN = 32
TEXT_HIDDEN_2 = 48
MAX_TOKENS = 16
SDXL_TIME_DIM = 8


def tiny_tokenizer() -> CLIPTokenizer:
    return CLIPTokenizer(
        str(TOKENIZER_DIR / "vocab.json"),
        str(TOKENIZER_DIR / "merges.txt"),
        model_max_length=MAX_TOKENS,
    )


def _tiny_text_config(
    tokenizer: CLIPTokenizer, hidden: int = TEXT_HIDDEN, **extra: object
) -> CLIPTextConfig:
    return CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        hidden_size=hidden,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=MAX_TOKENS,
        vocab_size=len(tokenizer),
        projection_dim=TEXT_HIDDEN,
        **extra,
    )


def _tiny_text_encoder(tokenizer: CLIPTokenizer) -> CLIPTextModel:
    return CLIPTextModel(_tiny_text_config(tokenizer)).eval()


def _tiny_sd_unet() -> UNet2DConditionModel:
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
    )


def _tiny_vae(**extra: object) -> AutoencoderKL:
    return AutoencoderKL(
        block_out_channels=(4, 8),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=2,
        sample_size=32,
        **extra,
    )


def tiny_sd_scheduler() -> PNDMScheduler:
    """Stable Diffusion 1.5's own scheduler configuration (epsilon prediction)."""
    return PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        skip_prk_steps=True,
        steps_offset=1,
    )


def tiny_emoji_scheduler() -> DDPMScheduler:
    """The embedded model's schedule: v-prediction, zero terminal SNR, trailing timesteps."""
    return DDPMScheduler(**SCHEDULE_CONFIG)


def build_tiny_sd_pipeline(seed: int = 0) -> StableDiffusionPipeline:
    """A Stable Diffusion 1.x-shaped pipeline with random weights, for 32x32 images."""
    torch.manual_seed(seed)
    unet = _tiny_sd_unet()
    vae = _tiny_vae()
    tokenizer = tiny_tokenizer()
    text_encoder = _tiny_text_encoder(tokenizer)
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=tiny_sd_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build_tiny_sd2_pipeline(seed: int = 0) -> StableDiffusionPipeline:
    """A Stable Diffusion 2.x-shaped pipeline: an OpenCLIP-style text encoder (GELU), linear
    attention projections and a v-prediction schedule."""
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=16,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=TEXT_HIDDEN,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        norm_num_groups=2,
    )
    tokenizer = tiny_tokenizer()
    pipe = StableDiffusionPipeline(
        vae=_tiny_vae(),
        text_encoder=CLIPTextModel(_tiny_text_config(tokenizer, hidden_act="gelu")).eval(),
        tokenizer=tokenizer,
        unet=unet,
        scheduler=DDIMScheduler(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            clip_sample=False,
            set_alpha_to_one=False,
            steps_offset=1,
            prediction_type="v_prediction",
        ),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build_tiny_sdxl_pipeline(seed: int = 0) -> StableDiffusionXLPipeline:
    """An SDXL-shaped pipeline: two CLIP encoders of different widths (the second with a
    projection, giving the pooled embedding), a text-time UNet, transformer depth 1 and 2."""
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=16,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=SDXL_TIME_DIM,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=6 * SDXL_TIME_DIM + TEXT_HIDDEN,
        cross_attention_dim=TEXT_HIDDEN + TEXT_HIDDEN_2,
        norm_num_groups=2,
    )
    tokenizer = tiny_tokenizer()
    second = _tiny_text_config(tokenizer, TEXT_HIDDEN_2, hidden_act="gelu")
    pipe = StableDiffusionXLPipeline(
        vae=_tiny_vae(),
        text_encoder=_tiny_text_encoder(tokenizer),
        text_encoder_2=CLIPTextModelWithProjection(second).eval(),
        tokenizer=tokenizer,
        tokenizer_2=tiny_tokenizer(),
        unet=unet,
        scheduler=EulerDiscreteScheduler(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            steps_offset=1,
            timestep_spacing="leading",
        ),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build_tiny_sd3_pipeline(seed: int = 0) -> StableDiffusion3Pipeline:
    """A flow-matching SD3-shaped pipeline with two tiny CLIP encoders and no T5."""
    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(
        sample_size=16,
        patch_size=1,
        in_channels=4,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=4,
        caption_projection_dim=TEXT_HIDDEN,
        joint_attention_dim=TEXT_HIDDEN,
        pooled_projection_dim=2 * TEXT_HIDDEN,
        out_channels=4,
    )
    tokenizer = tiny_tokenizer()
    encoders = [CLIPTextModelWithProjection(_tiny_text_config(tokenizer)) for _ in range(2)]
    pipe = StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=_tiny_vae(use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0),
        text_encoder=encoders[0],
        tokenizer=tokenizer,
        text_encoder_2=encoders[1],
        tokenizer_2=tiny_tokenizer(),
        text_encoder_3=None,
        tokenizer_3=None,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_emoji_unet_config() -> dict[str, object]:
    return {
        "sample_size": LATENT_SIZE,
        "in_channels": LATENT_CHANNELS,
        "out_channels": LATENT_CHANNELS,
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
        "block_out_channels": (8, 16),
        "layers_per_block": 1,
        "cross_attention_dim": TEXT_DIM,
        "attention_head_dim": 4,
        "norm_num_groups": 4,
        "class_embed_type": "projection",
        "projection_class_embeddings_input_dim": TEXT_DIM,
    }


def build_tiny_emoji_pipeline(seed: int = 0) -> EmojiPipeline:
    """An EmojiPipeline with a tiny random UNet, the real MiniLM encoder and the emoji schedule."""
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**tiny_emoji_unet_config())
    text_encoder, tokenizer = shared_text_encoder()
    pipe = EmojiPipeline(
        unet=unet, scheduler=tiny_emoji_scheduler(), text_encoder=text_encoder, tokenizer=tokenizer
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save_tiny_sd_pipeline(folder: Path, seed: int = 0) -> Path:
    build_tiny_sd_pipeline(seed).save_pretrained(folder, safe_serialization=True)
    return folder


def save_tiny_sd3_pipeline(folder: Path, seed: int = 0) -> Path:
    build_tiny_sd3_pipeline(seed).save_pretrained(folder, safe_serialization=True)
    return folder


def save_tiny_emoji_pipeline(folder: Path, seed: int = 0) -> Path:
    """Write the tiny emoji pipeline with the lab's exporter: fp16 UNet, no text encoder."""
    return export_pipeline(build_tiny_emoji_pipeline(seed).unet, folder)


def save_tiny_student_pair(root: Path, seed: int = 3) -> tuple[Path, Path, torch.nn.Module]:
    """A tiny emoji teacher folder, a LoRA student folder beside it (full rank, so fusing
    gives back `student` up to rounding) and that student's UNet."""
    base = save_tiny_emoji_pipeline(root / "tiny-teacher")
    teacher = load_pipeline(ModelRef(location=str(base))).pipe.unet
    student = type(teacher).from_config(teacher.config)
    student.load_state_dict(teacher.state_dict())
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in student.parameters():
            if p.ndim >= 2:
                p.add_(0.02 * torch.randn(p.shape, generator=gen))
    manifest = AdapterManifest(
        base="tiny-teacher",
        lora="pytorch_lora_weights.safetensors",
        method="progressive",
        guidance_distilled=True,
        num_inference_steps=4,
    )
    adapter = export_adapter(teacher, student, root / "tiny-student", manifest, rank=10_000)
    return base, adapter, student
