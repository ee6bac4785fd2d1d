"""The runner: the only call site of `pipe(...)`, for single, compare, grid and convergence jobs."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np
import torch

from studio.core.engine_options import EngineOptions
from studio.core.events import CompareFinished, LaneFinished, ModelLoaded, Timings
from studio.core.jobs import (
    CompareJob,
    ConvergeJob,
    GridJob,
    Job,
    Lane,
    LaneSpec,
    PreviewOptions,
    validate_job,
)
from studio.core.metrics import psnr, speedup, ssim
from studio.core.params import GenerationParams
from studio.engine.adapter_download import fetch_adapter
from studio.engine.amed.scheduler import solver_hooks
from studio.engine.amed.store import AmedPredictors
from studio.engine.analytic.tables import GammaTables, lane_progress
from studio.engine.cancel import CancelToken, StopAndKeep
from studio.engine.classifier_guidance import ClassifierGuide
from studio.engine.emoji_pipeline import EmojiPipeline
from studio.engine.engine_settings import engine_summary
from studio.engine.finite import check_finite
from studio.engine.hub_download import download_reporter, fetch_hub_model
from studio.engine.loading import LoadedModel
from studio.engine.memory import release_memory
from studio.engine.model_cache import ModelCache
from studio.engine.observer import EventSink, StepObserver
from studio.engine.samplers import make_scheduler
from studio.engine.shortcut_model import check_recipe
from studio.engine.skip_tuning import skip_tuned
from studio.engine.students import activate_lane, student_call_kwargs
from studio.engine.x0 import SchedulerTap


@dataclass(frozen=True, slots=True)
class LaneResult:
    """What one lane produced."""

    images: tuple[np.ndarray, ...]
    total_s: float
    partial: bool


@dataclass(frozen=True, slots=True)
class Sample:
    """What one `pipe(...)` call produced, with its timings and how often it ran the model."""

    images: tuple[np.ndarray, ...]
    timings: Timings
    model_calls: int
    partial: bool
    notice: str = ""


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """How a job ended when it did not raise: completed, or stopped with partial images kept."""

    lanes: dict[Lane, LaneResult]
    stopped: bool


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


class ImageJudge(Protocol):
    """Names the class of each of N uint8 HxWx3 images (e.g. an emoji's subgroup), or None
    when it cannot judge them; convergence jobs compare its answers with the reference's."""

    def __call__(self, images: np.ndarray) -> np.ndarray | None: ...


class Runner:
    """Runs validated jobs on cached models, reporting to an EventSink."""

    def __init__(
        self,
        models: ModelCache,
        judge: ImageJudge | None = None,
        gamma_tables: GammaTables | None = None,
        amed_predictors: AmedPredictors | None = None,
        classifier_guide: ClassifierGuide | None = None,
    ) -> None:
        self.models = models
        self.judge = judge
        self.gamma_tables = gamma_tables or GammaTables()
        self.amed_predictors = amed_predictors or AmedPredictors()
        self.classifier_guide = classifier_guide or ClassifierGuide()

    def run(self, job: Job, token: CancelToken, sink: EventSink) -> JobOutcome:
        validate_job(job)
        token.check()
        if isinstance(job, GridJob | ConvergeJob):
            from studio.engine.studies import run_study

            return run_study(self, job, token, sink)
        loaded = {
            lane: self.load(job.job_id, lane, spec, job, token, sink) for lane, spec in job.lanes
        }
        first_lane, first_spec = job.lanes[0]
        noise = start_noise(loaded[first_lane][0], first_spec.params)
        results: dict[Lane, LaneResult] = {}
        for lane, spec in job.lanes:
            if token.cancelled:
                token.check()
                break
            model, load_s = loaded[lane]
            results[lane] = self._run_lane(job, lane, spec, model, load_s, noise, token, sink)
        stopped = token.keep_partial or any(r.partial for r in results.values())
        if isinstance(job, CompareJob) and len(results) == 2:
            sink.emit(compare_event(job.job_id, results[Lane.teacher], results[Lane.student]))
        return JobOutcome(results, stopped)

    def after_failure(self) -> None:
        """Give back the memory a failed job held (an out-of-memory error leaves the GPU cache
        full), so that the next job starts clean; the host calls this once the error is gone."""
        release_memory()

    def configure(self, options: EngineOptions) -> str:
        """Drop every cached model (handing the memory back) and keep later ones as `options`
        say, with the same loader; the judge, the Gamma tables and the AMED predictors stay.
        The sentence saying what the options mean here; ValueError, with nothing changed, when
        they cannot apply."""
        fresh = self.models.reconfigured(options)
        summary = engine_summary(options, fresh.budget)
        self.models.clear()
        self.models = fresh
        release_memory()
        return summary

    def load(
        self, job_id: str, lane: Lane, spec: LaneSpec, job: Job, token: CancelToken, sink: EventSink
    ) -> tuple[LoadedModel, float]:
        """The lane's model and the seconds this job spent loading it (0 when cached)."""
        token.check()
        keep = tuple(s.model for _, s in job.lanes)
        if spec.model not in self.models:
            report = download_reporter(job_id, lane, spec.model, sink)
            fetch_hub_model(spec.model, token, report)
            fetch_adapter(spec.model, token, report)
        loaded, fresh = self.models.get(spec.model, keep=keep)
        if fresh:
            sink.emit(
                ModelLoaded(
                    job_id=job_id,
                    lane=lane,
                    model=spec.model,
                    device=str(loaded.device),
                    load_s=loaded.load_s,
                    notice=loaded.notice,
                )
            )
        token.check()
        return loaded, loaded.load_s if fresh else 0.0

    def sample(
        self,
        *,
        job_id: str,
        lane: Lane,
        spec: LaneSpec,
        loaded: LoadedModel,
        load_s: float,
        noise: torch.Tensor | None,
        token: CancelToken,
        sink: EventSink,
        previews: PreviewOptions,
    ) -> Sample:
        """One `pipe(...)` call for `spec` from `noise`, observed step by step."""
        p = spec.params
        pipe = loaded.pipe
        if isinstance(pipe, EmojiPipeline):  # elsewhere a step-size input is LCM's guidance
            check_recipe(
                pipe.unet, p.sampler, p.num_inference_steps, p.eta, spec.model.display_name
            )
        pipe.scheduler = make_scheduler(
            loaded.base_scheduler_config,
            p.sampler,
            p.schedule,
            loaded.kind,
            model_name=spec.model.display_name,
        )
        progress = lane_progress(job_id, lane, token, sink)
        self.gamma_tables.attach(pipe.scheduler, loaded, progress)
        self.amed_predictors.attach(pipe.scheduler, loaded, progress, p.num_inference_steps)
        guided, notice = self.classifier_guide.guided(
            pipe,
            p.prompt,
            p.classifier_scale,
            loaded.base_scheduler_config,
            spec.model.display_name,
        )
        activate_lane(loaded)
        tap = SchedulerTap(pipe.scheduler)
        observer = StepObserver(
            job_id=job_id,
            lane=lane,
            token=token,
            sink=sink,
            tap=tap,
            latent_format=loaded.latent_format,
            previews=previews,
        )
        kwargs = call_kwargs(pipe, p, noise, loaded, observer)
        hook = denoiser(pipe).register_forward_pre_hook(observer.on_model_call)
        partial = False
        try:
            with (
                tap,
                skip_tuned(denoiser(pipe), p.skip_tuning),
                solver_hooks(pipe.scheduler, denoiser(pipe)),
                guided,
            ):
                # Every concrete pipeline defines __call__; DiffusionPipeline declares none.
                images = cast(Callable[..., Any], pipe)(**kwargs).images
        except StopAndKeep as stop:
            images, partial = decode_partial(pipe, stop), True
        finally:
            hook.remove()
        timings = observer.timings(time.perf_counter(), load_s)
        finite = check_finite(
            images, lane=lane.value, model=spec.model.display_name, dtype=loaded.dtype
        )
        return Sample(to_uint8(finite), timings, observer.model_calls, partial, notice)

    def _run_lane(
        self,
        job: Job,
        lane: Lane,
        spec: LaneSpec,
        loaded: LoadedModel,
        load_s: float,
        noise: torch.Tensor | None,
        token: CancelToken,
        sink: EventSink,
    ) -> LaneResult:
        result = self.sample(
            job_id=job.job_id,
            lane=lane,
            spec=spec,
            loaded=loaded,
            load_s=load_s,
            noise=noise,
            token=token,
            sink=sink,
            previews=job.previews,
        )
        # A discard asked for while the lane decoded ends the job without its image.
        token.check()
        timings = result.timings
        sink.emit(
            LaneFinished(
                job_id=job.job_id,
                lane=lane,
                images=result.images,
                params=spec.params,
                model=spec.model,
                timings=timings,
                steps=len(timings.step_s),
                partial=result.partial,
                notice=result.notice,
            )
        )
        return LaneResult(result.images, timings.total_s, result.partial)


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


def compare_event(job_id: str, teacher: LaneResult, student: LaneResult) -> CompareFinished:
    a, b = teacher.images[0], student.images[0]
    same = a.shape == b.shape
    return CompareFinished(
        job_id=job_id,
        speedup=speedup(teacher.total_s, student.total_s),
        psnr=psnr(a, b) if same else float("nan"),
        ssim=ssim(a, b) if same else float("nan"),
    )
