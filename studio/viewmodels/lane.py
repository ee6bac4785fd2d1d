"""One pane of the studio: a lane's recipe, and the live state of its current run."""

from __future__ import annotations

import math
import operator
from enum import Enum

import numpy as np
from PySide6.QtCore import QObject, Signal

from studio.core.events import (
    DownloadProgress,
    LaneFinished,
    ModelLoaded,
    PrepareProgress,
    PreviewReady,
    StepProgress,
    Timings,
)
from studio.core.jobs import Lane
from studio.core.model_kinds import UNKNOWN, ModelFacts
from studio.core.params import GenerationParams, ScheduleOptions, problems
from studio.core.recipes import recipe_warnings
from studio.core.reels import MAX_SHOTS, StepThinning
from studio.core.samplers import find_sampler
from studio.core.settings import LaneRecipe, PreviewKind, SharedParams
from studio.core.shortcut import steps_sentence
from studio.core.skip_tuning import SkipTuning
from studio.core.units import download_status
from studio.viewmodels.observable import Observable

PreviewPair = tuple[np.ndarray, np.ndarray | None]
HISTORY_LIMIT = MAX_SHOTS
"""At most this many steps' preview pairs are kept per run (1000 steps at 512 px would be
about 1.5 GB; 120 are under 200 MB, and 256 px previews a quarter of that)."""


def preparation_status(event: PrepareProgress) -> str:
    """'Estimating the Gamma table (first use of this model): 37/50'."""
    task = event.task[:1].upper() + event.task[1:]
    return f"{task} (first use of this model): {event.done}/{event.total}"


def download_preparation(event: DownloadProgress, lane: Lane) -> PrepareProgress:
    """The download as one-off work before the first step, counted in whole megabytes."""
    megabyte = 1_000_000
    return PrepareProgress(
        job_id=event.job_id,
        lane=lane,
        task=f"downloading {event.model.display_name}",
        done=event.bytes_done // megabyte,
        total=max(event.bytes_total // megabyte, 1),
    )


class LaneEnd(Enum):
    """How a lane's last run ended: views read this, the status line is for display only."""

    done = "done"
    stopped = "stopped"
    cancelled = "cancelled"
    failed = "failed"
    engine_stopped = "engine_stopped"


class LaneViewModel(QObject):
    """Holds one lane's recipe (with its messages) and what its current run has shown so far.

    Recipe attributes (`sampler`, `num_inference_steps`, `guidance_scale`, `eta`,
    `classifier_scale`, `schedule`,
    `skip_tuning`) are observable: assign them and `recipeChanged` plus the field's own signal
    fire. `model_facts` (what is known of the lane's model: its kind, its vocabulary) is set by
    the session whenever the lane's model changes. The run state is fed by the session through
    `begin`, `on_prepare`, `on_step`, `on_preview`, `on_finished`, `end`.
    """

    samplerChanged = Signal(str)
    numInferenceStepsChanged = Signal(int)
    guidanceScaleChanged = Signal(float)
    etaChanged = Signal(float)
    classifierScaleChanged = Signal(float)
    scheduleChanged = Signal(object)
    skipTuningChanged = Signal(object)
    guidanceDistilledChanged = Signal(bool)
    stepCountsChanged = Signal(object)
    modelFactsChanged = Signal(object)
    previewKindChanged = Signal(str)
    recipeChanged = Signal()
    messagesChanged = Signal(list)
    progressChanged = Signal(int, int)
    preparationChanged = Signal()
    etaSecondsChanged = Signal(float)
    previewChanged = Signal()
    finished = Signal()
    statusChanged = Signal(str)
    runningChanged = Signal(bool)

    sampler: Observable[str] = Observable()
    num_inference_steps = Observable(operator.index)
    guidance_scale = Observable(float)
    eta = Observable(float)
    classifier_scale = Observable(float)
    schedule: Observable[ScheduleOptions] = Observable()
    skip_tuning: Observable[SkipTuning] = Observable()
    guidance_distilled = Observable(bool)
    step_counts: Observable[tuple[int, ...]] = Observable(tuple)
    model_facts: Observable[ModelFacts] = Observable()
    preview_kind = Observable(PreviewKind)

    def __init__(
        self,
        lane: Lane,
        recipe: LaneRecipe,
        *,
        guidance_distilled: bool = False,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.lane = lane
        self._guidance_distilled = guidance_distilled
        self._step_counts: tuple[int, ...] = ()
        self._model_facts: ModelFacts = UNKNOWN
        self._preview_kind = PreviewKind.x0
        self._warnings: list[str] = []
        self._load_recipe(recipe)
        self._reset_run()
        self._status = "Ready"
        self._running = False

    # --- recipe -------------------------------------------------------------------------------

    def _load_recipe(self, recipe: LaneRecipe) -> None:
        self._sampler = recipe.sampler
        self._num_inference_steps = recipe.num_inference_steps
        self._guidance_scale = recipe.guidance_scale
        self._eta = recipe.eta
        self._classifier_scale = recipe.classifier_scale
        self._schedule = recipe.schedule
        self._skip_tuning = recipe.skip_tuning

    @property
    def recipe(self) -> LaneRecipe:
        return LaneRecipe(
            sampler=self._sampler,
            num_inference_steps=self._num_inference_steps,
            guidance_scale=self._guidance_scale,
            eta=self._eta,
            classifier_scale=self._classifier_scale,
            schedule=self._schedule,
            skip_tuning=self._skip_tuning,
        )

    def set_recipe(self, recipe: LaneRecipe) -> None:
        """Replace every recipe field at once (one `recipeChanged`)."""
        if recipe == self.recipe:
            return
        self._load_recipe(recipe)
        self.samplerChanged.emit(recipe.sampler)
        self.numInferenceStepsChanged.emit(recipe.num_inference_steps)
        self.guidanceScaleChanged.emit(recipe.guidance_scale)
        self.etaChanged.emit(recipe.eta)
        self.classifierScaleChanged.emit(recipe.classifier_scale)
        self.scheduleChanged.emit(recipe.schedule)
        self.skipTuningChanged.emit(recipe.skip_tuning)
        self._changed("recipe")

    def params(self, shared: SharedParams, batch_size: int = 1) -> GenerationParams:
        return self.recipe.params(shared, batch_size)

    def _changed(self, name: str) -> None:
        if name == "preview_kind":
            self.previewChanged.emit()
        elif name not in ("guidance_distilled", "step_counts", "model_facts"):
            self.recipeChanged.emit()
        self.messagesChanged.emit(self.messages)

    @property
    def problems(self) -> list[str]:
        """Why the recipe cannot run, one sentence each (empty when it can)."""
        found = problems(self.recipe.params(SharedParams()))
        counts = self._step_counts
        if counts and self._num_inference_steps not in counts:
            found.append(steps_sentence("This model", counts))
        return found

    @property
    def misfit(self) -> str:
        """Why the lane's sampler cannot run its model, in one sentence; "" when it can (or
        nothing is known of the model)."""
        return self._model_facts.sampler_misfit(self._sampler)

    @property
    def warnings(self) -> list[str]:
        return list(self._warnings)

    def refresh_warnings(self, shared: SharedParams) -> None:
        """Recompute the recipe's warnings (e.g. CFG on a guidance-distilled student)."""
        params = self.params(shared)
        spec = find_sampler(params.sampler) if isinstance(params.sampler, str) else None
        self.set_warnings(
            recipe_warnings(
                params,
                guidance_distilled=self.guidance_distilled,
                sampler_uses_eta=spec is not None and spec.uses_eta,
                model=self._model_facts,
            )
        )

    def set_warnings(self, warnings: list[str]) -> None:
        if warnings != self._warnings:
            self._warnings = list(warnings)
            self.messagesChanged.emit(self.messages)

    @property
    def messages(self) -> list[str]:
        """Problems first, then warnings: everything to show under the recipe controls."""
        return self.problems + self._warnings

    # --- run state ----------------------------------------------------------------------------

    def _reset_run(self) -> None:
        self.job_id = ""
        self.step = 0
        self.total = 0
        self.eta_s = math.nan
        self.history: dict[int, PreviewPair] = {}
        self._thinning = StepThinning(HISTORY_LIMIT)
        self.latest_step = 0
        self.images: tuple[np.ndarray, ...] = ()
        self.result_params: GenerationParams | None = None
        self.timings: Timings | None = None
        self.steps = 0
        self.partial = False
        self.ended: LaneEnd | None = None
        self.preparation: PrepareProgress | None = None
        self._first: tuple[int, float] | None = None

    @property
    def status(self) -> str:
        return self._status

    @property
    def running(self) -> bool:
        return self._running

    @property
    def preparing(self) -> bool:
        """The run does one-off work (e.g. a Gamma table) and has not reached its first step."""
        return self._running and self.preparation is not None

    def _set_status(self, text: str) -> None:
        if text != self._status:
            self._status = text
            self.statusChanged.emit(text)

    def _set_running(self, running: bool) -> None:
        if running != self._running:
            self._running = running
            self.runningChanged.emit(running)

    def begin(self, job_id: str, total: int = 0) -> None:
        """A job of `total` steps starts: forget the previous run, previews and history included."""
        self._set_preparation(None)
        self._reset_run()
        self.job_id = job_id
        self.total = total
        self.progressChanged.emit(0, self.total)
        self.etaSecondsChanged.emit(self.eta_s)
        self.previewChanged.emit()
        self._set_running(True)
        self._set_status("Waiting…")

    def on_model_loaded(self, event: ModelLoaded) -> None:
        name = event.model.display_name
        notice = f" ({event.notice})" if event.notice else ""
        self._set_status(f"Loaded {name} on {event.device} in {event.load_s:.1f} s{notice}")

    def on_prepare(self, event: PrepareProgress) -> None:
        """One-off work before the first step: its own fraction and status line, no step ETA."""
        if not self._running or self.step:
            return
        self._set_status(preparation_status(event))
        self._set_preparation(event)

    def on_download(self, event: DownloadProgress, lane: Lane) -> None:
        """The lane's model is downloading: a status line and the bar filling in megabytes."""
        if not self._running or self.step:
            return
        self._set_status(download_status(event))
        self._set_preparation(download_preparation(event, lane))

    def _set_preparation(self, event: PrepareProgress | None) -> None:
        if event != self.preparation:
            self.preparation = event
            self.preparationChanged.emit()

    def on_step(self, event: StepProgress) -> None:
        self.step, self.total = event.step, event.total
        if self._first is None:
            self._first = (event.step, event.elapsed_s)
        self._set_preparation(None)
        self.eta_s = self._estimate_eta(event)
        self.progressChanged.emit(self.step, self.total)
        self.etaSecondsChanged.emit(self.eta_s)
        left = "" if math.isnan(self.eta_s) else f" · {self.eta_s:.1f} s left"
        self._set_status(f"Step {self.step}/{self.total}{left}")

    def _estimate_eta(self, event: StepProgress) -> float:
        """Seconds left, from the pace of the steps after the first (which includes encoding)."""
        assert self._first is not None
        first_step, first_s = self._first
        if event.step > first_step:
            per_step = (event.elapsed_s - first_s) / (event.step - first_step)
        else:
            per_step = event.elapsed_s / max(1, event.step)
        return max(0.0, per_step * (event.total - event.step))

    def on_preview(self, event: PreviewReady) -> None:
        """Keep the step's preview pair, at most `HISTORY_LIMIT` of them: past it, older steps
        are thinned to an even stride (the latest always stays), so a long run keeps a spread
        for the scrubber in bounded memory."""
        self.history[event.step] = (event.x_t, event.x0)
        for step in self._thinning.drops(self.history):
            del self.history[step]
        self.latest_step = max(self.latest_step, event.step)
        self.previewChanged.emit()

    def on_finished(self, event: LaneFinished) -> None:
        self.images = event.images
        self.result_params = event.params
        self.timings = event.timings
        self.steps = event.steps
        self.partial = event.partial
        self.ended = LaneEnd.stopped if event.partial else LaneEnd.done
        self._set_preparation(None)
        self.eta_s = 0.0
        self.etaSecondsChanged.emit(self.eta_s)
        if event.partial:
            self.step = event.steps
            self.progressChanged.emit(self.step, self.total)
        else:
            self.progressChanged.emit(self.total or event.steps, self.total or event.steps)
        self._set_running(False)
        took = event.timings.total_s
        status = (
            f"Stopped after {event.steps} steps (partial image)"
            if event.partial
            else f"Done: {event.steps} steps in {took:.2f} s"
        )
        self._set_status(f"{status} · {event.notice}" if event.notice else status)
        self.previewChanged.emit()
        self.finished.emit()

    def note(self, status: str) -> None:
        """Show a transient status (e.g. "Stopping…") without ending the run."""
        self._set_status(status)

    def end(self, status: str, ended: LaneEnd) -> None:
        """The job ended without this lane finishing (cancelled, failed, or never reached):
        `ended` says how, `status` says it to the user.

        A preparation it was in stays in `preparation`, so views can say where it stopped.
        """
        self.ended = ended
        self._set_running(False)
        self._set_status(status)

    # --- what to show -------------------------------------------------------------------------

    @property
    def history_steps(self) -> list[int]:
        """The steps with a kept preview, ascending (for the scrubbing slider)."""
        return sorted(self.history)

    def preview_at(self, step: int, kind: PreviewKind | str | None = None) -> np.ndarray | None:
        """The kept preview of `step` in `kind` (default: the current toggle); x_t if no x0."""
        pair = self.history.get(step)
        if pair is None:
            return None
        x_t, x0 = pair
        wanted = PreviewKind(kind) if kind is not None else self._preview_kind
        return x0 if wanted is PreviewKind.x0 and x0 is not None else x_t

    def kept_previews(self) -> dict[int, np.ndarray]:
        """Every kept step's predicted clean image (x_t where there is none), for animations
        (at most `HISTORY_LIMIT`, an even spread of the run)."""
        return {step: x0 if x0 is not None else x_t for step, (x_t, x0) in self.history.items()}

    @property
    def preview(self) -> np.ndarray | None:
        """The latest preview in the current kind, or None before the first one."""
        return self.preview_at(self.latest_step)

    @property
    def x_t(self) -> np.ndarray | None:
        return self.preview_at(self.latest_step, PreviewKind.xt)

    @property
    def x0(self) -> np.ndarray | None:
        return self.preview_at(self.latest_step, PreviewKind.x0)

    @property
    def image(self) -> np.ndarray | None:
        """The first final image, or None while running."""
        return self.images[0] if self.images else None

    def current_image(self) -> np.ndarray | None:
        """What the pane should show now: the final image when there is one, else the preview."""
        return self.image if self.image is not None else self.preview


def lane_misfits(lanes: list[LaneViewModel]) -> list[str]:
    """Each lane whose sampler cannot run its model, in one sentence (named when several)."""
    found: list[str] = []
    for lane in lanes:
        if lane.misfit:
            prefix = f"{lane.lane.value.capitalize()}: " if len(lanes) > 1 else ""
            found.append(prefix + lane.misfit)
    return found
