"""The per-lane step observer: timing, cancel, progress and previews on the worker thread."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import torch

from studio.core.events import Event, PreviewReady, StepProgress, Timings
from studio.core.jobs import Lane, PreviewOptions
from studio.engine.cancel import Cancelled, CancelToken, StopAndKeep
from studio.engine.previews import decoded_previews, preview_image
from studio.engine.x0 import SchedulerTap


class EventSink(Protocol):
    """Where a running job reports: events in order, previews through a one-slot mailbox."""

    def emit(self, event: Event) -> None: ...

    def offer_preview(self, lane: Lane, make: Callable[[], PreviewReady]) -> bool: ...


class StepObserver:
    """Called by the pipeline after every step (`callback_on_step_end`); owns the lane's clock."""

    def __init__(
        self,
        *,
        job_id: str,
        lane: Lane,
        token: CancelToken,
        sink: EventSink,
        tap: SchedulerTap,
        latent_format: str,
        previews: PreviewOptions,
        decode: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.job_id = job_id
        self.lane = lane
        self.token = token
        self.sink = sink
        self.tap = tap
        self.latent_format = latent_format
        self.previews = previews
        self.decode = decode
        self.started = time.perf_counter()
        self.first_model_call: float | None = None
        self.last_step_end: float | None = None
        self.step_s: list[float] = []
        self.model_calls = 0

    def on_model_call(self, module: torch.nn.Module, args: Any) -> None:
        self.model_calls += 1
        if self.first_model_call is None:
            self.first_model_call = time.perf_counter()
            self.token.check()

    def __call__(self, pipe: Any, index: int, timestep: Any, tensors: dict) -> dict:
        now = time.perf_counter()
        self.step_s.append(now - (self.last_step_end or self.first_model_call or self.started))
        self.last_step_end = now
        total = len(pipe.scheduler.timesteps)
        latents = tensors["latents"]
        self._check_cancel(latents, index)
        self.sink.emit(
            StepProgress(
                job_id=self.job_id,
                lane=self.lane,
                step=index + 1,
                total=total,
                elapsed_s=now - self.started,
            )
        )
        if self._wants_preview(index + 1, total):
            self.sink.offer_preview(self.lane, lambda: self._preview(latents, index + 1, total))
        return {}

    def _check_cancel(self, latents: torch.Tensor, index: int) -> None:
        if not self.token.cancelled:
            return
        if self.token.keep_partial:
            raise StopAndKeep(latents, self.tap.x0(), index + 1)
        raise Cancelled()

    def _wants_preview(self, step: int, total: int) -> bool:
        every = self.previews.every
        return every > 0 and (step % every == 0 or step == total)

    def _preview(self, latents: torch.Tensor, step: int, total: int) -> PreviewReady:
        x0 = self.tap.x0()
        size = self.previews.max_side
        if self.decode is not None:
            x_t, x0_image = decoded_previews(self.decode, latents, x0, size)
        else:
            x_t = preview_image(latents, self.latent_format, size)
            x0_image = None if x0 is None else preview_image(x0, self.latent_format, size)
        return PreviewReady(
            job_id=self.job_id, lane=self.lane, step=step, total=total, x_t=x_t, x0=x0_image
        )

    def timings(self, finished: float, load_s: float) -> Timings:
        first = self.first_model_call or finished
        end_of_steps = self.last_step_end or first
        return Timings(
            load_s=load_s,
            encode_s=first - self.started,
            step_s=tuple(self.step_s),
            decode_s=max(0.0, finished - end_of_steps),
            total_s=finished - self.started,
        )
