"""The runner: loads each job's models and runs the job by the strategy its type names (single,
compare, grid or convergence); every strategy samples through `studio.engine.sampling`."""

from __future__ import annotations

from studio.core.engine_options import EngineOptions
from studio.core.events import EngineStatus, ModelLoaded
from studio.core.jobs import (
    CompareJob,
    ConvergeJob,
    GenerateJob,
    GridJob,
    Job,
    Lane,
    LaneSpec,
    validate_job,
)
from studio.core.models import ModelRef
from studio.engine.adapter_download import fetch_adapter
from studio.engine.amed.store import AmedPredictors
from studio.engine.analytic.tables import GammaTables
from studio.engine.cancel import CancelToken
from studio.engine.classifier_guidance import ClassifierGuide
from studio.engine.convergence_runner import run_convergence
from studio.engine.engine_settings import engine_summary
from studio.engine.grid_runner import run_grid
from studio.engine.hub_download import download_reporter, fetch_hub_model
from studio.engine.judge import ImageJudge
from studio.engine.loading import LoadedModel
from studio.engine.memory import release_memory
from studio.engine.model_cache import ModelCache
from studio.engine.observer import EventSink
from studio.engine.preview_decoders import PreviewDecoders
from studio.engine.prompt_cache import PromptCache
from studio.engine.sampling import Knobs, LaneCall, Sample, sample
from studio.engine.single_runner import run_single
from studio.engine.strategy import JobOutcome, Strategy

STRATEGIES: dict[type, Strategy] = {
    GenerateJob: run_single,
    CompareJob: run_single,
    GridJob: run_grid,
    ConvergeJob: run_convergence,
}


def strategy_for(job: Job) -> Strategy:
    """The strategy of `job`'s type (or of the nearest base class that has one)."""
    for cls in type(job).__mro__:
        if cls in STRATEGIES:
            return STRATEGIES[cls]
    raise TypeError(f"no strategy runs a {type(job).__name__}")


def ready_status(ref: ModelRef, loaded: LoadedModel) -> str:
    """The status line after a fresh load: where the model went, how long it took, and why an
    asked-for placement was not used."""
    notice = f" · {loaded.notice}" if loaded.notice else ""
    return f"Ready · {ref.display_name} loaded on {loaded.device} in {loaded.load_s:.1f} s{notice}"


class Runner:
    """Runs validated jobs on cached models, reporting to an EventSink."""

    def __init__(
        self,
        models: ModelCache,
        judge: ImageJudge | None = None,
        gamma_tables: GammaTables | None = None,
        amed_predictors: AmedPredictors | None = None,
        classifier_guide: ClassifierGuide | None = None,
        prompt_cache: PromptCache | None = None,
        preview_decoders: PreviewDecoders | None = None,
    ) -> None:
        self.models = models
        self.judge = judge
        self.gamma_tables = gamma_tables or GammaTables()
        self.amed_predictors = amed_predictors or AmedPredictors()
        self.classifier_guide = classifier_guide or ClassifierGuide()
        self.prompt_cache = PromptCache() if prompt_cache is None else prompt_cache
        self.preview_decoders = PreviewDecoders() if preview_decoders is None else preview_decoders

    def run(self, job: Job, token: CancelToken, sink: EventSink) -> JobOutcome:
        validate_job(job)
        token.check()
        return strategy_for(job)(self, job, token, sink)

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
        self.prompt_cache.clear()
        self.preview_decoders.clear()
        release_memory()
        return summary

    def preload(self, ref: ModelRef, sink: EventSink) -> None:
        """Load `ref` ahead of any job (the window warms its pair while the user types)."""
        self._cached(ref, (), sink)

    def _cached(
        self, ref: ModelRef, keep: tuple[ModelRef, ...], sink: EventSink
    ) -> tuple[LoadedModel, bool]:
        """The cached model for `ref`; a fresh load is told to the status line, before and after."""
        if ref in self.models:
            return self.models.get(ref, keep)
        sink.emit(EngineStatus(text=f"Loading {ref.display_name}…"))
        loaded, fresh = self.models.get(ref, keep)
        sink.emit(EngineStatus(text=ready_status(ref, loaded)))
        return loaded, fresh

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
        loaded, fresh = self._cached(spec.model, keep, sink)
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

    def sample(self, call: LaneCall, token: CancelToken, sink: EventSink) -> Sample:
        """One `pipe(...)` call for `call`, observed step by step, with this runner's Gamma
        tables, AMED predictors, classifier guidance and prompt-encoding cache."""
        knobs = Knobs(
            self.gamma_tables,
            self.amed_predictors,
            self.classifier_guide,
            self.prompt_cache,
            self.preview_decoders,
        )
        return sample(knobs, call, token, sink)
