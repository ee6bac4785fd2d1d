"""Events an engine emits; every one names its job and lane."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from studio.core.convergence import ConvergencePoint
from studio.core.engine_options import EngineOptions
from studio.core.jobs import Lane
from studio.core.models import ModelRef
from studio.core.params import GenerationParams


@dataclass(frozen=True, slots=True, kw_only=True)
class Timings:
    """Wall-clock seconds per phase of one lane."""

    load_s: float = 0.0
    encode_s: float = 0.0
    step_s: tuple[float, ...] = ()
    decode_s: float = 0.0
    total_s: float = 0.0

    @property
    def denoise_s(self) -> float:
        return float(sum(self.step_s))


@dataclass(frozen=True, slots=True, kw_only=True)
class JobQueued:
    """A job entered the queue."""

    job_id: str
    position: int
    lane: Lane | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JobStarted:
    """The worker took a job off the queue."""

    job_id: str
    lane: Lane | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelLoaded:
    """A model is ready on its device; `notice` says why an asked-for placement (CPU offload)
    was not used, or is empty."""

    job_id: str
    lane: Lane | None
    model: ModelRef
    device: str
    load_s: float
    notice: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadProgress:
    """A lane's model is being downloaded from the hub: bytes written and files done so far."""

    job_id: str
    lane: Lane | None
    model: ModelRef
    bytes_done: int
    bytes_total: int
    files_done: int
    files_total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StepProgress:
    """A lane finished a denoising step; `cell` is the grid cell (x, y) the step belongs to
    when a grid runs, else None."""

    job_id: str
    lane: Lane
    step: int
    total: int
    elapsed_s: float
    cell: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PrepareProgress:
    """A lane is doing one-off work before its first step (e.g. estimating a Gamma table)."""

    job_id: str
    lane: Lane
    task: str
    done: int
    total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PreviewReady:
    """A small uint8 HxWx3 view of the current sample and of the predicted clean image;
    `cell` is the grid cell (x, y) it shows when a grid runs, else None (so a cell's previews
    are told apart by their coordinate, not by the order of the events)."""

    job_id: str
    lane: Lane
    step: int
    total: int
    x_t: np.ndarray
    x0: np.ndarray | None = None
    cell: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LaneFinished:
    """A lane's final images (read-only uint8 HxWx3 arrays) and its timings; `notice` says what
    the lane left out and why (classifier guidance for a prompt naming no known emoji), or "".
    """

    job_id: str
    lane: Lane
    images: tuple[np.ndarray, ...]
    params: GenerationParams
    model: ModelRef
    timings: Timings
    steps: int
    partial: bool = False
    notice: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CompareFinished:
    """Speed-up and similarity of the student lane against the teacher lane."""

    job_id: str
    speedup: float
    psnr: float
    ssim: float
    lane: Lane | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JobProgress:
    """A grid or convergence job finished `done` of its `total` runs and now runs `label`."""

    job_id: str
    done: int
    total: int
    label: str
    lane: Lane | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GridCellFinished:
    """One grid cell's image (read-only uint8 HxWx3), its caption, time, model evaluations and
    per-phase timings (for its clock in an animation); or no image and the one sentence saying
    why the cell could not run."""

    job_id: str
    x: int
    y: int
    image: np.ndarray | None
    label: str
    nfe: int
    params: GenerationParams
    model: ModelRef
    partial: bool = False
    error: str = ""
    lane: Lane | None = None
    timings: Timings = field(default_factory=Timings)

    @property
    def wall_s(self) -> float:
        return self.timings.total_s


@dataclass(frozen=True, slots=True, kw_only=True)
class ConvergencePointReady:
    """One sampler at one step count was measured against the reference."""

    job_id: str
    point: ConvergencePoint
    lane: Lane | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFinished:
    """The job completed; no more events follow for it."""

    job_id: str
    lane: Lane | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JobCancelled:
    """The job was cancelled; with kept_partial, its lanes finished with partial images."""

    job_id: str
    kept_partial: bool = False
    lane: Lane | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFailed:
    """The job failed: one clear sentence, and the details for the log."""

    job_id: str
    message: str
    detail: str = ""
    lane: Lane | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfigured:
    """New engine settings are in force: `summary` says in one sentence what they mean on this
    machine (the device, the budgets, the model count)."""

    summary: str
    options: EngineOptions
    job_id: str = ""
    lane: Lane | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineStatus:
    """What the engine does in the background, for the status line ("Loading emoji-teacher…",
    "Ready · emoji-teacher loaded on cpu in 1.2 s"); a text ending in "…" is an activity that
    lasts until the next status or the end of the work."""

    text: str
    job_id: str = ""
    lane: Lane | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineStopped:
    """The engine shut down; the stream ends after this."""

    job_id: str = ""
    lane: Lane | None = None
    reasons: tuple[str, ...] = field(default_factory=tuple)


Event = (
    JobQueued
    | JobStarted
    | ModelLoaded
    | DownloadProgress
    | StepProgress
    | PrepareProgress
    | PreviewReady
    | LaneFinished
    | CompareFinished
    | JobProgress
    | GridCellFinished
    | ConvergencePointReady
    | JobFinished
    | JobCancelled
    | JobFailed
    | EngineConfigured
    | EngineStatus
    | EngineStopped
)

FINAL_EVENTS = (JobFinished, JobCancelled, JobFailed)
