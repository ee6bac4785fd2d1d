"""A pretend runner without torch: scripted steps, previews, images and crashes.

The engine process runs it with `--runner pretend`, for tests and the packaged app's smoke check
of the process boundary. Each job's prompt is its script, words of `key=value`:

    sleep=0.05     seconds per step (default 0)
    crash=segv@3   die at step 3: `segv` (SIGSEGV), `kill` (SIGKILL), `exit` (exit code 3),
                   or `raise` (an ordinary exception: the job fails, the process lives)

Steps come from `num_inference_steps`, previews from the job's `PreviewOptions.every`; every
image is a function of the seed, lane and size (`pretend_image`, `pretend_preview`), so a test
can check what crossed the pipe byte for byte.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

import numpy as np

from studio.core.engine_options import EngineOptions
from studio.core.events import (
    CompareFinished,
    EngineStatus,
    LaneFinished,
    PreviewReady,
    StepProgress,
    Timings,
)
from studio.core.jobs import CompareJob, GenerateJob, Job, Lane, LaneSpec
from studio.core.models import ModelRef
from studio.engine.cancel import Cancelled, CancelToken
from studio.worker.mailbox import EventChannel

LANE_SALT = {Lane.main: 0, Lane.teacher: 1, Lane.student: 2}
CRASH_EXIT_CODE = 3


def pretend_image(seed: int, lane: Lane, width: int, height: int) -> np.ndarray:
    """The final image of a lane: random bytes drawn from its seed and lane."""
    rng = np.random.default_rng([seed, LANE_SALT[lane]])
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def pretend_preview(seed: int, lane: Lane, step: int) -> np.ndarray:
    """The 8x8 preview of a lane at a step."""
    rng = np.random.default_rng([seed, LANE_SALT[lane], step])
    return rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class Script:
    """What a pretend job does: its seconds per step and where (and how) it crashes."""

    sleep_s: float = 0.0
    crash: str = ""
    crash_step: int = 0

    @classmethod
    def parse(cls, prompt: str) -> Script:
        words = dict(word.split("=", 1) for word in prompt.split() if "=" in word)
        crash, _, step = words.get("crash", "").partition("@")
        return cls(float(words.get("sleep", 0)), crash, int(step or 1) if crash else 0)


@dataclass(frozen=True, slots=True)
class PretendOutcome:
    stopped: bool


def crash(how: str) -> None:
    """Die (or fail) the way a script says."""
    if how == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "exit":
        os._exit(CRASH_EXIT_CODE)
    raise RuntimeError(f"the pretend job crashed as scripted ({how})")


class PretendRunner:
    """Runs generate and compare jobs by script, reporting like the engine's runner."""

    def __init__(self) -> None:
        self.options = EngineOptions()

    def configure(self, options: EngineOptions) -> str:
        if options.max_models < 1:
            raise ValueError("The pretend engine keeps at least one model.")
        self.options = options
        return "The pretend engine takes these settings."

    def preload(self, ref: ModelRef, sink: EventChannel) -> None:
        sink.emit(EngineStatus(text=f"Ready · {ref.label or ref.location} loaded (pretend)"))

    def run(self, job: Job, token: CancelToken, sink: EventChannel) -> PretendOutcome:
        if not isinstance(job, GenerateJob | CompareJob):
            raise ValueError("The pretend engine runs only generate and compare jobs.")
        for lane, spec in job.lanes:
            if self._lane(job, lane, spec, token, sink):
                return PretendOutcome(stopped=True)
        if isinstance(job, CompareJob):
            sink.emit(CompareFinished(job_id=job.job_id, speedup=2.0, psnr=30.0, ssim=0.9))
        return PretendOutcome(stopped=False)

    def _lane(
        self,
        job: GenerateJob | CompareJob,
        lane: Lane,
        spec: LaneSpec,
        token: CancelToken,
        sink: EventChannel,
    ) -> bool:
        """Run one lane's steps and report its image; whether it was stopped and kept."""
        params, script = spec.params, Script.parse(spec.params.prompt)
        total, started = params.num_inference_steps, time.perf_counter()
        step = 0
        while step < total and not token.keep_partial:
            step += 1
            self._step(job, lane, step, total, script, token, sink)
        image = pretend_image(params.seed, lane, params.width, params.height)
        wall = time.perf_counter() - started
        sink.emit(
            LaneFinished(
                job_id=job.job_id,
                lane=lane,
                images=(image,) * params.batch_size,
                params=params,
                model=spec.model,
                timings=Timings(total_s=wall),
                steps=step,
                partial=token.keep_partial,
            )
        )
        return token.keep_partial

    def _step(
        self,
        job: GenerateJob | CompareJob,
        lane: Lane,
        step: int,
        total: int,
        script: Script,
        token: CancelToken,
        sink: EventChannel,
    ) -> None:
        time.sleep(script.sleep_s)
        if script.crash and script.crash_step == step:
            crash(script.crash)
        if token.cancelled and not token.keep_partial:
            raise Cancelled()
        sink.emit(StepProgress(job_id=job.job_id, lane=lane, step=step, total=total, elapsed_s=0.0))
        every, seed = job.previews.every, spec_seed(job, lane)
        if every and step % every == 0:
            sink.offer_preview(lane, lambda: _preview(job.job_id, lane, step, total, seed))


def spec_seed(job: GenerateJob | CompareJob, lane: Lane) -> int:
    return dict(job.lanes)[lane].params.seed


def _preview(job_id: str, lane: Lane, step: int, total: int, seed: int) -> PreviewReady:
    x_t = pretend_preview(seed, lane, step)
    return PreviewReady(job_id=job_id, lane=lane, step=step, total=total, x_t=x_t, x0=x_t[::-1])
