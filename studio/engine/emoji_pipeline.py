"""The diffusers pipeline of the embedded emoji model: text to 32x32 pixels, v-prediction."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from itertools import islice
from typing import Any

import torch
from diffusers import DiffusionPipeline, UNet2DConditionModel
from diffusers.pipelines.pipeline_utils import ImagePipelineOutput
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from studio.engine.emoji_model import IMAGE_SIZE, LATENT_CHANNELS, PATCH, to_pixels
from studio.engine.shortcut_model import check_steps, is_shortcut, step_condition
from studio.engine.text_encoder import encode_prompts


class EmojiPipeline(DiffusionPipeline):
    """Runs the embedded pixel-space emoji model with any compatible diffusers scheduler.

    The model works on 2x2 pixel-unshuffled images (12 channels at half size), so its
    "latents" are pixels rearranged, and decoding is a pixel shuffle.
    """

    # diffusers declares `model_cpu_offload_seq = None` unannotated, so mypy takes its type as None.
    model_cpu_offload_seq = "text_encoder->unet"  # type: ignore[assignment]
    _optional_components = ["text_encoder", "tokenizer"]  # noqa: RUF012
    _callback_tensor_inputs = ["latents", "prompt_embeds"]  # noqa: RUF012

    def __init__(
        self, unet: UNet2DConditionModel, scheduler: Any, text_encoder=None, tokenizer=None
    ):
        super().__init__()
        self.register_modules(
            unet=unet, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer
        )
        self._interrupt = False
        self._guidance_scale = 1.0
        self._num_timesteps = 0
        self._step_cond: torch.Tensor | None = None
        self._placed: tuple[tuple, tuple[torch.device, torch.dtype]] | None = None

    def placement(self) -> tuple[torch.device, torch.dtype]:
        """`self.device` and `self.unet.dtype`, which diffusers finds by walking every submodule
        (about 3 ms a call on this CPU: a tenth of a one-step image); kept while the same text
        encoder and UNet have their first parameters where they were (a move, a new dtype or
        another UNet looks again)."""
        key = tuple(
            (id(module), param.device, param.dtype)
            for module in (self.text_encoder, self.unet)
            if module is not None
            for param in islice(module.parameters(), 1)
        )
        if self._placed is None or self._placed[0] != key:
            self._placed = (key, (self.device, self.unet.dtype))
        return self._placed[1]

    @property
    def interrupt(self) -> bool:
        return self._interrupt

    @property
    def guidance_scale(self) -> float:
        return self._guidance_scale

    @property
    def do_classifier_free_guidance(self) -> bool:
        return self._guidance_scale > 1.0

    @property
    def num_timesteps(self) -> int:
        return self._num_timesteps

    def encode_prompt(
        self, prompt: list[str], negative_prompt: list[str], do_cfg: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.text_encoder is None or self.tokenizer is None:
            raise RuntimeError("EmojiPipeline needs its text encoder: load it with studio.engine.")
        texts = (negative_prompt + prompt) if do_cfg else prompt
        states, mask, pooled = self._encode_each(texts)
        device, dtype = self.placement()
        return states.to(device, dtype), mask.to(device), pooled.to(device, dtype)

    def _encode_each(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One encoder pass per distinct text (the same bits as one batched pass: the tokens are
        padded to a fixed length), so a prompt cache shares a text between lanes whether or
        not they guide, and a batch of one prompt encodes it once."""
        encoded = {
            text: encode_prompts(self.text_encoder, self.tokenizer, [text])
            for text in dict.fromkeys(texts)
        }
        states, mask, pooled = (
            torch.cat([encoded[text][part] for text in texts]) for part in range(3)
        )
        return states, mask, pooled

    def prepare_latents(
        self,
        batch: int,
        height: int,
        width: int,
        generator: torch.Generator | list[torch.Generator] | None,
        latents: torch.Tensor | None,
        placement: tuple[torch.device, torch.dtype] | None = None,
    ) -> torch.Tensor:
        device, dtype = placement or self.placement()
        shape = (batch, LATENT_CHANNELS, height // PATCH, width // PATCH)
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        elif tuple(latents.shape) != shape:
            raise ValueError(f"latents must have shape {shape}, got {tuple(latents.shape)}")
        latents = latents.to(device, dtype)
        return latents * self.scheduler.init_noise_sigma

    def _step_kwargs(self, generator: Any, eta: float) -> dict[str, Any]:
        accepted = set(inspect.signature(self.scheduler.step).parameters)
        kwargs: dict[str, Any] = {}
        if "eta" in accepted:
            kwargs["eta"] = eta
        if "generator" in accepted:
            kwargs["generator"] = generator
        return kwargs

    def _set_timesteps(
        self, steps: int, timesteps: list[int] | None, device: torch.device
    ) -> torch.Tensor:
        if timesteps is not None:
            self.scheduler.set_timesteps(timesteps=timesteps, device=device)
        else:
            self.scheduler.set_timesteps(steps, device=device)
        return self.scheduler.timesteps

    def _predict(self, latents, t, states, mask, pooled, guidance_rescale: float) -> torch.Tensor:
        cfg = self.do_classifier_free_guidance
        model_in = torch.cat([latents] * 2) if cfg else latents
        model_in = self.scheduler.scale_model_input(model_in, t)
        t_batch = t.expand(model_in.shape[0]) if torch.is_tensor(t) else t
        extra = {}
        if self._step_cond is not None:
            extra["timestep_cond"] = self._step_cond.expand(model_in.shape[0], -1)
        pred = self.unet(
            model_in,
            t_batch,
            encoder_hidden_states=states,
            encoder_attention_mask=mask,
            class_labels=pooled,
            **extra,
        ).sample
        if not cfg:
            return pred
        uncond, cond = pred.chunk(2)
        guided = uncond + self._guidance_scale * (cond - uncond)
        if guidance_rescale > 0:
            ratio = cond.std(dim=(1, 2, 3), keepdim=True) / guided.std(dim=(1, 2, 3), keepdim=True)
            guided = guidance_rescale * guided * ratio + (1 - guidance_rescale) * guided
        return guided

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] = "",
        negative_prompt: str | list[str] | None = None,
        num_inference_steps: int = 25,
        guidance_scale: float = 3.0,
        eta: float = 0.0,
        num_images_per_prompt: int = 1,
        height: int | None = None,
        width: int | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        timesteps: list[int] | None = None,
        guidance_rescale: float = 0.0,
        output_type: str = "pil",
        return_dict: bool = True,
        callback_on_step_end: Callable[..., dict[str, Any]] | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
    ) -> ImagePipelineOutput | tuple:
        height = height or IMAGE_SIZE
        width = width or IMAGE_SIZE
        if height % 8 or width % 8:
            raise ValueError(f"height and width must be multiples of 8, got {height}x{width}")
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        prompts = [p for p in prompts for _ in range(num_images_per_prompt)]
        negative = negative_prompt or ""
        negatives = [negative] * len(prompts) if isinstance(negative, str) else list(negative)
        negatives = [n for n in negatives for _ in range(num_images_per_prompt)][: len(prompts)]
        self._guidance_scale = guidance_scale
        self._interrupt = False
        device, dtype = self.placement()

        states, mask, pooled = self.encode_prompt(
            prompts, negatives, self.do_classifier_free_guidance
        )
        steps = self._set_timesteps(num_inference_steps, timesteps, device)
        self._num_timesteps = len(steps)
        self._step_cond = None
        if is_shortcut(self.unet):  # the step size is the same at every step: embedded once
            check_steps(len(steps))
            self._step_cond = step_condition(len(steps), 1, device, dtype)
        latents = self.prepare_latents(
            len(prompts), height, width, generator, latents, (device, dtype)
        )
        step_kwargs = self._step_kwargs(generator, eta)
        tensor_inputs = callback_on_step_end_tensor_inputs or ["latents"]

        with self.progress_bar(total=len(steps)) as bar:
            for i, t in enumerate(steps):
                if self._interrupt:
                    continue
                pred = self._predict(latents, t, states, mask, pooled, guidance_rescale)
                latents = self.scheduler.step(pred, t, latents, **step_kwargs, return_dict=False)[0]
                if callback_on_step_end is not None:
                    local = {"latents": latents, "prompt_embeds": states}
                    kwargs = {k: local[k] for k in tensor_inputs}
                    out = callback_on_step_end(self, i, t, kwargs) or {}
                    latents = out.get("latents", latents)
                bar.update()

        images = self.decode(latents, output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (images,)
        return ImagePipelineOutput(images=images)

    def decode(self, latents: torch.Tensor, output_type: str = "pil") -> Any:
        pixels = to_pixels(latents.float()).clamp(-1, 1)
        if output_type in ("latent", "pt"):
            return pixels if output_type == "pt" else latents
        levels = ((pixels + 1) * 127.5).round().permute(0, 2, 3, 1)
        if output_type == "np":
            return (levels / 255.0).cpu().numpy()  # float, so an overflow stays NaN, not black
        return [Image.fromarray(a) for a in levels.to(torch.uint8).cpu().numpy()]
