"""A benchmark aid, never used by the window or the CLI: the default runner, instrumented so the
benchmark suite can time the engine on either side of the process boundary.

- Step ends: each preview the runner offers is stamped with `time.perf_counter()` at the
  moment it is offered (the end of its step, before the preview is rendered), keyed by
  (job id, lane, step). In the engine process (`engine_child.RUNNERS["benchmark"]`) the stamps
  go, one line each and flushed, to the file that STUDIO_STAMPS_FILE names; `perf_counter` is
  CLOCK_MONOTONIC on Linux, so the window's process compares them with its own clock.
- Bare jobs: a job whose id starts with "bare-" runs as a bare diffusers `pipe(...)` call with
  the same components, sampler, steps, seed and starting noise, and finishes without images;
  so the engine's own work is timed against diffusers inside the same process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from studio.core.engine_options import EngineOptions
from studio.core.jobs import GenerateJob, Job, Lane, LaneSpec
from studio.worker.host import JobRunner, judged_runner

if TYPE_CHECKING:
    from studio.engine.cancel import CancelToken
    from studio.worker.mailbox import EventChannel

STAMPS_ENV = "STUDIO_STAMPS_FILE"
BARE_PREFIX = "bare-"
Stamp = Callable[[str, str, int, float], None]


class StampingSink:
    """Passes everything on to the engine's channel, stamping each offered preview's step end."""

    def __init__(self, sink: EventChannel, stamp: Stamp) -> None:
        self._sink, self._stamp = sink, stamp

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sink, name)

    def offer_preview(self, lane: Lane, make: Callable[[], Any]) -> bool:
        ended = time.perf_counter()

        def stamped() -> Any:
            preview = make()
            self._stamp(preview.job_id, preview.lane.value, preview.step, ended)
            return preview

        return self._sink.offer_preview(lane, stamped)


class BenchmarkRunner:
    """The wrapped runner with step-end stamps (when `stamp` is given) and bare `pipe(...)` jobs;
    everything else (preload, configure, models) is the wrapped runner's."""

    def __init__(self, runner: Any, stamp: Stamp | None = None) -> None:
        self.runner, self._stamp = runner, stamp

    def __getattr__(self, name: str) -> Any:
        return getattr(self.runner, name)

    def run(self, job: Job, token: CancelToken, sink: EventChannel) -> Any:
        if job.job_id.startswith(BARE_PREFIX) and isinstance(job, GenerateJob):
            from studio.engine.strategy import JobOutcome

            bare_pipe_call(self.runner, job.lane)
            return JobOutcome({}, stopped=False)
        if self._stamp is not None:
            sink = StampingSink(sink, self._stamp)  # type: ignore[assignment]
        return self.runner.run(job, token, sink)


def bare_pipe_call(runner: Any, lane: LaneSpec) -> Any:
    """One plain diffusers call with the lane's model, recipe, seed and starting noise."""
    import torch

    from studio.engine.samplers import make_scheduler
    from studio.engine.sampling import start_noise

    loaded, _ = runner.models.get(lane.model)
    pipe, p = loaded.pipe, lane.params
    noise = start_noise(loaded, p)
    pipe.scheduler = make_scheduler(
        loaded.base_scheduler_config, p.sampler, p.schedule, loaded.kind
    )
    kwargs: dict[str, Any] = dict(
        prompt=[p.prompt],
        num_inference_steps=p.num_inference_steps,
        guidance_scale=p.guidance_scale,
        height=p.height,
        width=p.width,
        generator=torch.Generator("cpu").manual_seed(p.seed),
        output_type="np",
    )
    if noise is not None:
        kwargs["latents"] = noise.to(loaded.device, loaded.dtype)
    return pipe(**kwargs).images


def file_stamp(path: str) -> Stamp:
    """A stamp that appends `job_id lane step seconds` lines to `path`, flushed per line."""
    handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the process's life

    def stamp(job_id: str, lane: str, step: int, ended: float) -> None:
        handle.write(f"{job_id} {lane} {step} {ended:.9f}\n")
        handle.flush()

    return stamp


def benchmark_runner(options: EngineOptions | None) -> JobRunner:
    """The engine process's benchmark runner: the default (judged) runner, with stamps to the
    file STUDIO_STAMPS_FILE names (none when unset) and bare `pipe(...)` jobs."""
    path = os.environ.get(STAMPS_ENV, "")
    runner = BenchmarkRunner(judged_runner(options), file_stamp(path) if path else None)
    return runner  # type: ignore[return-value]


def read_stamps(path: str | os.PathLike[str]) -> dict[tuple[str, str, int], float]:
    """The stamps a `file_stamp` wrote: (job id, lane, step) → seconds (perf_counter)."""
    stamps: dict[tuple[str, str, int], float] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) == 4:
                stamps[(parts[0], parts[1], int(parts[2]))] = float(parts[3])
    return stamps
