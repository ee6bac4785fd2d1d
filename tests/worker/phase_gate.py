"""A gate that pauses the engine thread at one named phase of a job, so a test can cancel there.

The gate is armed for one point (a phase, and for steps the step number, and for lane-bound
phases the lane's index in the job); the engine thread blocks when it reaches that point, the
test sees `reached`, cancels, and releases it. Nothing sleeps and nothing races: the cancel
lands exactly in the phase asked for.

The hooks: the loader blocks after a model is loaded (before the runner's own check), forward
pre-hooks on the text encoders, the denoiser and the VAE decoder (or the embedded pipeline's
`decode`) block before encoding, before step N and before decoding, and a sink wrapper blocks
just after a lane's LaneFinished was sent. They do nothing while the gate is not armed.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import torch

from studio.core.engine_options import EngineOptions
from studio.core.events import Event, LaneFinished, PreviewReady
from studio.core.jobs import Lane
from studio.engine.emoji_pipeline import EmojiPipeline
from studio.engine.loading import LoadedModel
from studio.engine.model_cache import ModelCache
from studio.engine.runner import Runner
from studio.engine.sampling import denoiser

RELEASE_TIMEOUT_S = 60.0


class Phase(StrEnum):
    """Where a job can be when its cancel arrives."""

    queued = "queued"
    loading = "loading"
    encoding = "encoding"
    step = "step"
    decoding = "decoding"
    finishing = "finishing"
    saving = "saving"


LANE_BOUND = frozenset({Phase.encoding, Phase.step, Phase.decoding, Phase.finishing})


@dataclass(frozen=True, slots=True, kw_only=True)
class Point:
    """One place to pause: a phase, the step (1-based, steps only) and the lane index."""

    phase: Phase
    step: int = 0
    lane: int = 0

    @property
    def label(self) -> str:
        where = f"{self.phase.value} {self.step}" if self.phase is Phase.step else self.phase.value
        return f"{where} (lane {self.lane + 1})" if self.lane else where


class PhaseGate:
    """Blocks the engine thread once at the armed point until the test releases it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: Point | None = None
        self._lane = -1
        self._calls = 0
        self.reached = threading.Event()
        self._release = threading.Event()
        self.lanes_sent: dict[str, int] = {}

    def arm(self, point: Point) -> None:
        with self._lock:
            self._armed = point
            self.reached.clear()
            self._release.clear()

    def disarm(self) -> None:
        with self._lock:
            self._armed = None
        self._release.set()

    def release(self) -> None:
        self._release.set()

    def begin_job(self) -> None:
        with self._lock:
            self._lane = -1

    def begin_lane(self) -> None:
        with self._lock:
            self._lane += 1
            self._calls = 0

    def model_call(self) -> None:
        with self._lock:
            self._calls += 1
            step = self._calls
        self.hit(Phase.step, step)

    def hit(self, phase: Phase, step: int = 0) -> None:
        with self._lock:
            if not self._matches(phase, step):
                return
            self._armed = None
        self.reached.set()
        if not self._release.wait(RELEASE_TIMEOUT_S):
            raise RuntimeError(f"the test never released the gate at {phase.value}")

    def _matches(self, phase: Phase, step: int) -> bool:
        armed = self._armed
        if armed is None or armed.phase is not phase or armed.step != step:
            return False
        return phase not in LANE_BOUND or armed.lane == self._lane


class GatedLoader:
    """Wraps a model loader: pauses at `loading`, and hooks each loaded pipeline once."""

    def __init__(self, gate: PhaseGate, load: Callable[..., LoadedModel]) -> None:
        self.gate = gate
        self._load = load
        self._hooked: weakref.WeakSet[Any] = weakref.WeakSet()

    def __call__(self, ref: Any, **options: Any) -> LoadedModel:
        loaded = self._load(ref, **options)
        self._install(loaded.pipe)
        self.gate.hit(Phase.loading)
        return loaded

    def _install(self, pipe: Any) -> None:
        gate = self.gate
        for name in ("text_encoder", "text_encoder_2"):
            self._pre_hook(getattr(pipe, name, None), lambda: gate.hit(Phase.encoding))
        self._pre_hook(denoiser(pipe), gate.model_call)
        vae = getattr(pipe, "vae", None)
        if vae is not None:
            self._pre_hook(vae.decoder, lambda: gate.hit(Phase.decoding))
        elif isinstance(pipe, EmojiPipeline) and pipe not in self._hooked:
            self._hooked.add(pipe)
            decode = pipe.decode

            def gated_decode(*args: Any, **kwargs: Any) -> Any:
                gate.hit(Phase.decoding)
                return decode(*args, **kwargs)

            pipe.decode = gated_decode

    def _pre_hook(self, module: Any, action: Callable[[], None]) -> None:
        if not isinstance(module, torch.nn.Module) or module in self._hooked:
            return
        self._hooked.add(module)
        module.register_forward_pre_hook(lambda *_: action())


class GatedSink:
    """Passes events on; pauses at `finishing` right after a LaneFinished went out."""

    def __init__(self, sink: Any, gate: PhaseGate) -> None:
        self._sink, self._gate = sink, gate

    def emit(self, event: Event) -> None:
        self._sink.emit(event)
        if isinstance(event, LaneFinished):
            sent = self._gate.lanes_sent
            sent[event.job_id] = sent.get(event.job_id, 0) + 1
            self._gate.hit(Phase.finishing)

    def offer_preview(self, lane: Lane, make: Callable[[], PreviewReady]) -> bool:
        return bool(self._sink.offer_preview(lane, make))


class GatedRunner(Runner):
    """The real Runner, telling the gate where each job and lane begins."""

    def __init__(self, gate: PhaseGate, models: ModelCache) -> None:
        super().__init__(models)
        self.gate = gate

    def run(self, job: Any, token: Any, sink: Any) -> Any:
        self.gate.begin_job()
        return super().run(job, token, GatedSink(sink, self.gate))

    def sample(self, call: Any, token: Any, sink: Any) -> Any:
        self.gate.begin_lane()
        return super().sample(call, token, sink)


class GatedRunnerFactory:
    """Builds the engine's runner for EngineHost: one torch thread, a model cache over a gated
    loader; keeps the runner so a test can empty its cache while the engine is idle."""

    def __init__(self, gate: PhaseGate, load: Callable[..., LoadedModel]) -> None:
        self.gate = gate
        self._load = load
        self.runner: GatedRunner | None = None

    def __call__(self) -> GatedRunner:
        torch.set_num_threads(1)
        models = ModelCache.for_options(EngineOptions(), loader=GatedLoader(self.gate, self._load))
        self.runner = GatedRunner(self.gate, models)
        return self.runner

    def clear_models(self) -> None:
        """Forget every loaded model, so the next job loads again (call only while idle)."""
        if self.runner is not None:
            self.runner.models.clear()
