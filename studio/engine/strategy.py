"""What a job strategy (single, grid, convergence) works with: the runner's services it asks for
(`LaneRunner`) and the outcome it returns (`JobOutcome`).

The strategies are typed against this protocol, not against the runner, so the runner may import
them and nothing imports the runner back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from studio.core.jobs import Job, Lane, LaneSpec
from studio.engine.cancel import CancelToken
from studio.engine.judge import ImageJudge
from studio.engine.loading import LoadedModel
from studio.engine.observer import EventSink
from studio.engine.sampling import LaneCall, Sample


@dataclass(frozen=True, slots=True)
class LaneResult:
    """What one lane produced."""

    images: tuple[np.ndarray, ...]
    total_s: float
    partial: bool


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """How a job ended when it did not raise: completed, or stopped with partial images kept."""

    lanes: dict[Lane, LaneResult]
    stopped: bool


class LaneRunner(Protocol):
    """The runner as a strategy sees it: loads a lane's model, samples it, judges images."""

    @property
    def judge(self) -> ImageJudge | None: ...

    def load(
        self, job_id: str, lane: Lane, spec: LaneSpec, job: Job, token: CancelToken, sink: EventSink
    ) -> tuple[LoadedModel, float]: ...

    def sample(self, call: LaneCall, token: CancelToken, sink: EventSink) -> Sample: ...


# (runner: LaneRunner, job of the strategy's own type, token, sink) -> JobOutcome
Strategy = Callable[..., JobOutcome]
