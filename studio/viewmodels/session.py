"""The studio session: shared parameters, the two lanes, and the jobs sent to the engine."""

from __future__ import annotations

import logging
import operator
import random
from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QObject, Signal

from studio.core.client import EngineClient
from studio.core.commands import Cancel, Configure, Submit
from studio.core.engine_options import EngineOptions
from studio.core.events import (
    FINAL_EVENTS,
    CompareFinished,
    DownloadProgress,
    EngineConfigured,
    EngineStatus,
    EngineStopped,
    Event,
    JobFailed,
    JobQueued,
    JobStarted,
    LaneFinished,
    ModelLoaded,
    PrepareProgress,
    PreviewReady,
    StepProgress,
)
from studio.core.gallery import GalleryStore
from studio.core.jobs import CompareJob, Job, Lane, LaneSpec, PreviewDecoder, StudyJob
from studio.core.jobs import job_problems as find_job_problems
from studio.core.metadata import ParsedParameters
from studio.core.model_kinds import ModelFacts
from studio.core.model_resolver import ModelResolver
from studio.core.params import MAX_SEED
from studio.core.settings import LaneRecipe, SeedMode, Settings, SharedParams
from studio.viewmodels.comparison import ComparisonViewModel
from studio.viewmodels.convergence import measured_pace
from studio.viewmodels.gallery import LANE_KEY, GalleryViewModel
from studio.viewmodels.job_builder import JobBuilder
from studio.viewmodels.job_tracker import JobRecord, JobTracker
from studio.viewmodels.lane import LaneEnd, LaneViewModel
from studio.viewmodels.model_facts import known_facts
from studio.viewmodels.observable import Observable
from studio.viewmodels.queue import QueueViewModel
from studio.viewmodels.studies import Studies
from studio.viewmodels.submission import (
    Settlement,
    job_summary,
    settlement,
)

log = logging.getLogger(__name__)

INTERNAL_ERROR = "Studio could not show an engine result; the details are in the log."
_SHARED_FIELDS = frozenset({"prompt", "negative_prompt", "seed", "width", "height", "compare_mode"})


class SessionViewModel(QObject):
    """Owns the shared parameters, builds and sends jobs, and routes engine events to the
    lanes, the comparison, the queue and the gallery.

    Observable attributes (assign to change; each has a `<name>Changed` signal): `prompt`,
    `negative_prompt`, `seed`, `seed_mode`, `width`, `height`, `batch_count`, `teacher_model`,
    `student_model`, `compare_mode`, `preview_every`, `preview_decoder`, `tiny_vae_dir`,
    `tiny_vae_download`. `pickle_permissions` holds the pickle
    files the user allowed; jobs get `allow_pickle` for those files only. `models` resolves
    model names (the composition root's resolver; the shipped models and presets when None).
    Each lane is told what `model_facts` knows of its model (kind, vocabulary) whenever that
    model changes.
    """

    promptChanged = Signal(str)
    negativePromptChanged = Signal(str)
    seedChanged = Signal(object)  # seeds go up to 2**32 - 1, past a C int
    seedModeChanged = Signal(str)
    widthChanged = Signal(int)
    heightChanged = Signal(int)
    batchCountChanged = Signal(int)
    teacherModelChanged = Signal(str)
    studentModelChanged = Signal(str)
    compareModeChanged = Signal(bool)
    previewEveryChanged = Signal(int)
    previewDecoderChanged = Signal(str)
    tinyVaeDirChanged = Signal(str)
    tinyVaeDownloadChanged = Signal(bool)
    busyChanged = Signal(bool)
    error = Signal(str)
    notice = Signal(str)
    engineConfigured = Signal(object)
    engineStatus = Signal(str)

    prompt = Observable(str)
    negative_prompt = Observable(str)
    seed = Observable(operator.index)
    seed_mode = Observable(SeedMode)
    width = Observable(operator.index)
    height = Observable(operator.index)
    batch_count = Observable(operator.index)
    teacher_model = Observable(str)
    student_model = Observable(str)
    compare_mode = Observable(bool)
    preview_every = Observable(operator.index)
    preview_decoder = Observable(PreviewDecoder)
    tiny_vae_dir = Observable(str)
    tiny_vae_download = Observable(bool)

    def __init__(
        self,
        client: EngineClient,
        store: GalleryStore,
        settings: Settings | None = None,
        *,
        rng: random.Random | None = None,
        models: ModelResolver | None = None,
        model_facts: Callable[[str], ModelFacts] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._client = client
        self.models = models or ModelResolver.shipped()
        self._model_facts = model_facts or partial(known_facts, self.models)
        self._jobs = JobBuilder(self, rng or random.Random())
        self._tracker = JobTracker(self.busyChanged.emit)
        self.last_error = ""
        self._ready = False
        base = settings or Settings()
        self.teacher = LaneViewModel(Lane.teacher, base.teacher, parent=self)
        self.student = LaneViewModel(
            Lane.student, base.student, guidance_distilled=True, parent=self
        )
        self.comparison = ComparisonViewModel(self)
        self.queue = QueueViewModel(self._discard, self)
        self.gallery = GalleryViewModel(store, self, self)
        self.studies = Studies(
            self.submit,
            self.lane_spec,
            self.models.resolve,
            self,
            previews=self._jobs.preview_options,
        )
        self.grid, self.convergence = self.studies.grid, self.studies.convergence
        self.convergence.pace = partial(measured_pace, self.teacher)
        self.apply_settings(base)
        self._connect_children()
        self._ready = True
        self._refresh_warnings()

    def _connect_children(self) -> None:
        self.gallery.error.connect(self._show_error)
        self.gallery.notice.connect(self.notice)
        for lane in (self.teacher, self.student):
            lane.recipeChanged.connect(self._refresh_warnings)
            lane.guidanceDistilledChanged.connect(self._refresh_warnings)
            lane.modelFactsChanged.connect(self._refresh_warnings)

    def apply_settings(self, settings: Settings) -> None:
        """Set every parameter from `settings`, emitting the change signals."""
        shared = settings.shared
        self.prompt, self.negative_prompt = shared.prompt, shared.negative_prompt
        self.seed, self.width, self.height = shared.seed, shared.width, shared.height
        self.seed_mode, self.batch_count = settings.seed_mode, settings.batch_count
        self.teacher_model, self.student_model = settings.teacher_model, settings.student_model
        self.compare_mode, self.preview_every = settings.compare_mode, settings.preview_every
        self.preview_decoder, self.tiny_vae_dir = settings.preview_decoder, settings.tiny_vae_dir
        self.tiny_vae_download = settings.tiny_vae_download
        self.pickle_permissions = settings.pickle_permissions
        self.teacher.set_recipe(settings.teacher)
        self.student.set_recipe(settings.student)
        for lane in (self.teacher, self.student):
            lane.preview_kind = settings.preview_kind

    def shared_params(self, seed: int | None = None) -> SharedParams:
        return SharedParams(
            prompt=self.prompt,
            negative_prompt=self.negative_prompt,
            seed=self.seed if seed is None else seed,
            width=self.width,
            height=self.height,
        )

    def apply_parameters(self, parsed: ParsedParameters) -> None:
        """Restore a gallery image or dropped PNG: shared values, and its lane's recipe."""
        params = parsed.params
        self.prompt, self.negative_prompt = params.prompt, params.negative_prompt
        self.seed, self.width, self.height = params.seed, params.width, params.height
        lane = parsed.extra.get(LANE_KEY, "")
        target = self.student if lane == Lane.student.value else self.teacher
        target.set_recipe(LaneRecipe.from_params(params))
        if lane in {member.value for member in Lane} and parsed.model:
            if target is self.student:
                self.student_model = parsed.model
            else:
                self.teacher_model = parsed.model

    def _changed(self, name: str) -> None:
        if name == "teacher_model":
            self.teacher.model_facts = self._model_facts(self.teacher_model)
        elif name == "student_model":
            self.student.model_facts = self._model_facts(self.student_model)
        elif self._ready and name in _SHARED_FIELDS:
            self._refresh_warnings()

    def _refresh_warnings(self) -> None:
        shared = self.shared_params()
        for lane in (self.teacher, self.student):
            lane.refresh_warnings(shared)

    @property
    def busy(self) -> bool:
        return self._tracker.busy

    @property
    def current_job_id(self) -> str:
        return self._tracker.current

    @property
    def generating(self) -> bool:
        """A Generate or Compare job is running or queued: its lanes own the panes."""
        return self._tracker.generating

    def job_problems(self) -> list[str]:
        """Why Generate would refuse now, one sentence each (empty when it would run)."""
        return self._jobs.jobs()[1]

    def generate(self) -> list[str]:
        """Validate, then send `batch_count` jobs; the ids sent (none when there were problems)."""
        jobs, found = self._jobs.jobs()
        if found:
            self._show_error(" ".join(found))
            return []
        sent: list[str] = []
        for job in jobs:
            if not self.submit(job):
                break
            sent.append(job.job_id)
        if sent and self.seed_mode is SeedMode.increment:
            self.seed = (self.seed + len(jobs)) % (MAX_SEED + 1)
        return sent

    def lane_spec(self, lane: Lane) -> LaneSpec:
        """A lane's model and recipe as Generate would send them; ValueError naming a bad model."""
        return self._jobs.lane_spec(lane)

    def submit(self, job: Job) -> bool:
        """Validate and send one job (Generate's, a grid's, curves'); False when not sent."""
        found = find_job_problems(job)
        if found:
            self._show_error(" ".join(found))
            return False
        self._tracker.add(job)
        self.queue.add(job.job_id, job_summary(job))
        try:
            self._client.send(Submit(job=job))
        except Exception as exc:
            log.exception("submit failed")
            self._forget(job.job_id)
            self._show_error(f"The engine did not take the job: {exc}")
            return False
        self._tracker.update_busy()
        return True

    def cancel(self) -> None:
        """Discard the running job and every queued one (Esc)."""
        for job_id in self._tracker.job_ids():
            self.queue.cancel(job_id)

    def restart_engine(self) -> bool:
        """Ask the engine for a fresh start (all model memory freed); whether it restarts."""
        return self._client.restart()

    def stop(self) -> None:
        """Stop the running job after its current step and keep its partial images."""
        record = self._tracker.stop()
        if record is None:
            return
        self._send_cancel(record.job.job_id, keep_partial=True)
        for lane in self._lanes_of(record.job):
            if lane.running:
                lane.note("Stopping…")

    def _discard(self, job_id: str) -> None:
        record = self._tracker.discard(job_id)
        if record is None:
            return
        self._send_cancel(job_id, keep_partial=False)
        if job_id == self._tracker.current:
            for lane in self._lanes_of(record.job):
                if lane.running:
                    lane.note("Cancelling…")

    def _send_cancel(self, job_id: str, *, keep_partial: bool) -> None:
        try:
            self._client.send(Cancel(job_id=job_id, keep_partial=keep_partial))
        except Exception as exc:
            log.exception("cancel failed")
            self._show_error(f"The engine did not take the cancel request: {exc}")

    def configure_engine(self, options: EngineOptions) -> bool:
        """Send new engine settings; they apply after the queued jobs. False when not sent."""
        try:
            self._client.send(Configure(options=options))
        except Exception as exc:
            log.exception("configure failed")
            self._show_error(f"The engine did not take the new settings: {exc}")
            return False
        return True

    async def consume(self, client: EngineClient | None = None) -> None:
        """Handle every event of the engine's stream until it ends."""
        async for event in (client or self._client).listen():
            try:
                self.handle(event)
            except Exception:
                log.exception("handling %r failed", type(event).__name__)
                self._show_error(INTERNAL_ERROR)

    def handle(self, event: Event) -> None:
        """Route one engine event; events of unknown or discarded jobs are dropped."""
        if isinstance(event, EngineStopped):
            self._engine_stopped(event)
            return
        if isinstance(event, EngineConfigured):
            self.engineConfigured.emit(event)
            return
        if isinstance(event, EngineStatus):
            self.engineStatus.emit(event.text)
            return
        record = self._tracker.get(event.job_id)
        if record is None:
            if isinstance(event, JobFailed) and not event.job_id:
                self._show_error(event.message)
            return
        if isinstance(event, FINAL_EVENTS):
            self._job_ended(record, event)
        elif isinstance(event, JobQueued):
            self.queue.confirm(event.job_id)
        elif isinstance(event, JobStarted):
            self._job_started(record)
        elif not self._tracker.is_current(record):
            return
        elif not self.studies.handle(record.job, event):
            self._run_event(event)

    def _run_event(self, event: Event) -> None:
        match event:
            case ModelLoaded(lane=Lane() as lane):
                self._lane(lane).on_model_loaded(event)
            case StepProgress(lane=lane):
                self._lane(lane).on_step(event)
            case PrepareProgress(lane=lane):
                self._lane(lane).on_prepare(event)
            case DownloadProgress(lane=Lane() as lane):
                self._lane(lane).on_download(event, lane)
            case PreviewReady(lane=lane):
                self._lane(lane).on_preview(event)
            case LaneFinished(lane=lane):
                self._lane(lane).on_finished(event)
                self.gallery.collect(event)
                self.comparison.keep_lane(event, self._lane(lane).kept_previews())
            case CompareFinished():
                self.comparison.update(event)

    def _lane(self, lane: Lane) -> LaneViewModel:
        return self.student if lane is Lane.student else self.teacher

    def _lanes_of(self, job: Job) -> list[LaneViewModel]:
        if isinstance(job, StudyJob):
            return []
        return [self.teacher, self.student] if isinstance(job, CompareJob) else [self.teacher]

    def _job_started(self, record: JobRecord) -> None:
        job_id = record.job.job_id
        self.queue.start(job_id)
        if not self._tracker.start(record):
            return
        if self.studies.begin(record.job):
            return
        for lane, spec in record.job.lanes:
            self._lane(lane).begin(job_id, spec.params.num_inference_steps)
        self.comparison.clear()

    def _job_ended(self, record: JobRecord, event: Event) -> None:
        job_id = record.job.job_id
        self._forget(job_id)
        outcome = self._settle(record, event)
        self.studies.end(record.job, outcome.status)
        for lane in self._lanes_of(record.job):
            if lane.job_id == job_id and lane.running:
                lane.end(outcome.status, outcome.ended)
        self._tracker.ended(job_id)

    def _settle(self, record: JobRecord, event: Event) -> Settlement:
        """Save or drop the job's images; how the lanes that did not finish ended."""
        outcome = settlement(record, event)
        if outcome.keep_partial is None:
            self.gallery.drop(record.job.job_id)
        else:
            self.gallery.commit(record.job.job_id, include_partial=outcome.keep_partial)
        if outcome.error:
            self._show_error(outcome.error)
        return outcome

    def use_engine(self, client: EngineClient) -> None:
        """Send the next jobs to `client` (the window switched engines); the jobs sent to the
        old one are dropped, and its events are no longer this session's to handle."""
        self._client = client
        self._drop_jobs("The engine was switched")

    def _drop_jobs(self, why: str) -> None:
        for record in self._tracker.clear():
            self.gallery.drop(record.job.job_id)
            self.studies.end(record.job, why)
            for lane in self._lanes_of(record.job):
                if lane.running:
                    lane.end(why, LaneEnd.engine_stopped)
        self.queue.clear()
        self._tracker.update_busy()

    def _engine_stopped(self, event: EngineStopped) -> None:
        self._drop_jobs("The engine stopped")
        if event.reasons:
            self._show_error(" ".join(event.reasons))

    def _forget(self, job_id: str) -> None:
        self._tracker.forget(job_id)
        self.queue.remove(job_id)

    def _show_error(self, message: str) -> None:
        self.last_error = message
        self.error.emit(message)
