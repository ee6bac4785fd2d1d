"""The sampling primitives: a lane's start noise and latent shape, its call arguments, and the
one `pipe(...)` call of the engine, observed step by step.

The single, grid and convergence strategies all sample through `sample`; nothing here knows
which job asked, so this module imports none of them.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch

from studio.core.events import EngineStatus, Timings
from studio.core.jobs import Lane, LaneSpec, PreviewDecoder, PreviewOptions
from studio.core.params import GenerationParams
from studio.engine.amed.scheduler import solver_hooks
from studio.engine.amed.store import AmedPredictors
from studio.engine.analytic.tables import GammaTables, lane_progress
from studio.engine.cancel import CancelToken, StopAndKeep
from studio.engine.classifier_guidance import ClassifierGuide
from studio.engine.emoji_pipeline import EmojiPipeline
from studio.engine.finite import check_finite
from studio.engine.hub_download import download_reporter
from studio.engine.loading import LoadedModel
from studio.engine.observer import EventSink, StepObserver
from studio.engine.preview_decoders import PreviewDecoders
from studio.engine.prompt_cache import PromptCache
from studio.engine.samplers import make_scheduler
from studio.engine.shortcut_model import check_recipe
from studio.engine.skip_tuning import skip_tuned
from studio.engine.students import activate_lane, student_call_kwargs
from studio.engine.x0 import SchedulerTap


@dataclass(frozen=True, slots=True)
class Sample:
    """What one `pipe(...)` call produced, with its timings and how often it ran the model."""

    images: tuple[np.ndarray, ...]
    timings: Timings
    model_calls: int
    partial: bool
    notice: str = ""


@dataclass(frozen=True, slots=True)
class Knobs:
    """The per-model helpers a `pipe(...)` call attaches to its scheduler, denoiser and
    prompt encoding: analytic-variance Gamma tables, AMED predictors, classifier guidance and
    the prompt-encoding cache (none: every call encodes its prompts), and the preview
    decoders (none: previews use the linear map)."""

    gamma_tables: GammaTables
    amed_predictors: AmedPredictors
    classifier_guide: ClassifierGuide
    prompt_cache: PromptCache | None = None
    preview_decoders: PreviewDecoders | None = None


def start_noise(loaded: LoadedModel, params: GenerationParams) -> torch.Tensor | None:
    """Unscaled starting noise from the seed alone (CPU generator), or None if the shape is
    unknown for this pipeline (it then draws its own from the same seed)."""
    shape = latent_shape(loaded.pipe, params)
    if shape is None:
        return None
    gen = torch.Generator("cpu").manual_seed(params.seed)
    return torch.randn(shape, generator=gen, dtype=torch.float32)


def latent_shape(pipe: Any, p: GenerationParams) -> tuple[int, ...] | None:
    if isinstance(pipe, EmojiPipeline):
        return (p.batch_size, pipe.unet.config.in_channels, p.height // 2, p.width // 2)
    unet = getattr(pipe, "unet", None)
    factor = getattr(pipe, "vae_scale_factor", None)
    if unet is None or factor is None:
        return None
    return (p.batch_size, unet.config.in_channels, p.height // factor, p.width // factor)


def to_uint8(images: np.ndarray) -> tuple[np.ndarray, ...]:
    out = []
    for img in images:
        arr = np.ascontiguousarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8))
        arr.setflags(write=False)
        out.append(arr)
    return tuple(out)


def denoiser(pipe: Any) -> torch.nn.Module:
    return getattr(pipe, "unet", None) or pipe.transformer


@dataclass(frozen=True, slots=True, kw_only=True)
class LaneCall:
    """What one lane's `pipe(...)` call is made of: its job and lane, its recipe and loaded model
    (with the load time its timings report), its starting noise and its preview options."""

    job_id: str
    lane: Lane
    spec: LaneSpec
    loaded: LoadedModel
    load_s: float
    noise: torch.Tensor | None
    previews: PreviewOptions


def sample(knobs: Knobs, call: LaneCall, token: CancelToken, sink: EventSink) -> Sample:
    """One `pipe(...)` call for `call.spec` from `call.noise`, observed step by step."""
    job_id, lane, spec, loaded = call.job_id, call.lane, call.spec, call.loaded
    load_s, noise, previews = call.load_s, call.noise, call.previews
    p = spec.params
    pipe = loaded.pipe
    # 1. the lane's scheduler, with what the knobs attach to it
    guided, notice = _prepare(knobs, job_id, lane, spec, loaded, token, sink)
    # 2. the observer and the call's arguments
    tap = SchedulerTap(pipe.scheduler)
    decode, preview_notice = _preview_decode(knobs, call, token, sink)
    notice = " ".join(n for n in (notice, preview_notice) if n)
    observer = StepObserver(
        job_id=job_id,
        lane=lane,
        token=token,
        sink=sink,
        tap=tap,
        latent_format=loaded.latent_format,
        previews=previews,
        decode=decode,
    )
    kwargs = call_kwargs(pipe, p, noise, loaded, observer)
    # 3. the one call
    cache = knobs.prompt_cache
    encodings = cache.serving(pipe) if cache is not None else nullcontext()
    images, partial = _call(pipe, kwargs, observer, tap, p, guided, encodings)
    # 4. the images, checked
    timings = observer.timings(time.perf_counter(), load_s)
    finite = check_finite(
        images, lane=lane.value, model=spec.model.display_name, dtype=loaded.dtype
    )
    return Sample(to_uint8(finite), timings, observer.model_calls, partial, notice)


def _preview_decode(
    knobs: Knobs, call: LaneCall, token: CancelToken, sink: EventSink
) -> tuple[Callable[[torch.Tensor], torch.Tensor] | None, str]:
    """The lane's preview decoder (None: the linear map), and why it fell back to the linear
    map (told to the status line at once, and kept for the lane's finish)."""
    decoders, previews = knobs.preview_decoders, call.previews
    if decoders is None or not previews.enabled or previews.decoder is PreviewDecoder.linear:
        return None, ""
    p = call.spec.params
    resolved = decoders.resolve(
        previews,
        call.loaded,
        (p.height, p.width),
        token,
        lambda ref: download_reporter(call.job_id, call.lane, ref, sink),
    )
    if resolved.notice:
        sink.emit(EngineStatus(text=resolved.notice))
    return resolved.decode, resolved.notice


def _prepare(
    knobs: Knobs,
    job_id: str,
    lane: Lane,
    spec: LaneSpec,
    loaded: LoadedModel,
    token: CancelToken,
    sink: EventSink,
) -> tuple[Any, str]:
    """Give the pipe the lane's scheduler and attach the knobs; the classifier guidance's
    context and its notice."""
    p = spec.params
    pipe = loaded.pipe
    if isinstance(pipe, EmojiPipeline):  # elsewhere a step-size input is LCM's guidance
        check_recipe(pipe.unet, p.sampler, p.num_inference_steps, p.eta, spec.model.display_name)
    pipe.scheduler = make_scheduler(
        loaded.base_scheduler_config,
        p.sampler,
        p.schedule,
        loaded.kind,
        model_name=spec.model.display_name,
    )
    progress = lane_progress(job_id, lane, token, sink)
    knobs.gamma_tables.attach(pipe.scheduler, loaded, progress)
    knobs.amed_predictors.attach(pipe.scheduler, loaded, progress, p.num_inference_steps)
    guided, notice = knobs.classifier_guide.guided(
        pipe,
        p.prompt,
        p.classifier_scale,
        loaded.base_scheduler_config,
        spec.model.display_name,
    )
    activate_lane(loaded)
    return guided, notice


def _call(
    pipe: Any,
    kwargs: dict[str, Any],
    observer: StepObserver,
    tap: SchedulerTap,
    p: GenerationParams,
    guided: Any,
    encodings: AbstractContextManager[None],
) -> tuple[np.ndarray, bool]:
    """Run `pipe(**kwargs)` with the per-step hooks; the images, and whether a stop-and-keep
    cut it short (its partial latents then decoded)."""
    hook = denoiser(pipe).register_forward_pre_hook(observer.on_model_call)
    partial = False
    try:
        with (
            tap,
            skip_tuned(denoiser(pipe), p.skip_tuning),
            solver_hooks(pipe.scheduler, denoiser(pipe)),
            guided,
            encodings,
        ):
            # Every concrete pipeline defines __call__; DiffusionPipeline declares none.
            images = cast(Callable[..., Any], pipe)(**kwargs).images
    except StopAndKeep as stop:
        images, partial = decode_partial(pipe, stop), True
    finally:
        hook.remove()
    return images, partial


def call_kwargs(
    pipe: Any,
    p: GenerationParams,
    noise: torch.Tensor | None,
    loaded: LoadedModel,
    observer: StepObserver,
) -> dict[str, Any]:
    accepted = set(inspect.signature(pipe.__call__).parameters)
    kwargs: dict[str, Any] = {
        "prompt": [p.prompt] * p.batch_size,
        "num_inference_steps": p.num_inference_steps,
        "guidance_scale": p.guidance_scale,
        "height": p.height,
        "width": p.width,
        "generator": torch.Generator("cpu").manual_seed(p.seed),
        "output_type": "np",
        "callback_on_step_end": observer,
        "callback_on_step_end_tensor_inputs": ["latents"],
    }
    if "negative_prompt" in accepted and p.guidance_scale > 1:
        kwargs["negative_prompt"] = [p.negative_prompt] * p.batch_size
    if "eta" in accepted:
        kwargs["eta"] = p.eta
    if noise is not None:
        kwargs["latents"] = noise.to(loaded.device, loaded.dtype)
    return kwargs | student_call_kwargs(pipe, loaded, p.num_inference_steps)


@torch.no_grad()
def decode_partial(pipe: Any, stop: StopAndKeep) -> np.ndarray:
    """Decode what a stopped lane had: its predicted clean image when known, else x_t."""
    latents = stop.x0 if stop.x0 is not None else stop.latents
    if isinstance(pipe, EmojiPipeline):
        return pipe.decode(latents, "np")
    vae = pipe.vae
    scaled = latents.to(vae.dtype) / vae.config.scaling_factor
    shift = getattr(vae.config, "shift_factor", None)
    if shift:
        scaled = scaled + shift
    image = vae.decode(scaled, return_dict=False)[0]
    return pipe.image_processor.postprocess(image, output_type="np")
