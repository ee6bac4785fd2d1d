"""Commands sent to an engine."""

from __future__ import annotations

from dataclasses import dataclass

from studio.core.engine_options import EngineOptions
from studio.core.jobs import Job
from studio.core.models import ModelRef


@dataclass(frozen=True, slots=True, kw_only=True)
class Submit:
    """Queue a job."""

    job: Job


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancel:
    """Cancel a queued or running job; keep_partial stops it and keeps the partial image."""

    job_id: str
    keep_partial: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadModel:
    """Load (and cache) a model ahead of the jobs that need it."""

    ref: ModelRef


@dataclass(frozen=True, slots=True, kw_only=True)
class Configure:
    """Apply new engine settings between jobs: every cached model is dropped, and later ones
    are placed and kept as `options` say."""

    options: EngineOptions


@dataclass(frozen=True, slots=True, kw_only=True)
class Shutdown:
    """Cancel everything and stop the engine."""


Command = Submit | Cancel | LoadModel | Configure | Shutdown
