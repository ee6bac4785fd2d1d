"""The service that gives a loaded model its Gamma table, and the runner's progress hook."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from studio.core.events import PrepareProgress
from studio.core.jobs import Lane
from studio.engine.analytic.estimate import EstimateOptions, estimate_gamma
from studio.engine.analytic.scheduler import AnalyticDDIMScheduler
from studio.engine.analytic.sources import (
    check_supported,
    clean_data,
    default_emoji_dataset,
    source_id,
)
from studio.engine.analytic.store import (
    default_cache_dir,
    load_table,
    model_fingerprint,
    save_table,
    table_key,
    table_path,
)
from studio.engine.analytic.variance import GammaTable
from studio.engine.cancel import Cancelled, CancelToken
from studio.engine.loading import LoadedModel
from studio.engine.observer import EventSink

TaskProgress = Callable[[str, int, int], None]
"""Called with (task, done, total) while a table is made; raising from it cancels."""

SAMPLING_TASK = "sampling clean data for the Gamma table"
ESTIMATING_TASK = "estimating the Gamma table"


def _ignore(task: str, done: int, total: int) -> None:
    return None


class GammaTables:
    """Gives each loaded model its Gamma table: kept in memory, cached on disk, else estimated."""

    def __init__(
        self,
        cache_dir: Path | None = None,
        options: EstimateOptions | None = None,
        dataset: Path | None = None,
    ) -> None:
        self.cache_dir = cache_dir or default_cache_dir()
        self.options = options or EstimateOptions()
        self.dataset = dataset or default_emoji_dataset()
        self._tables: dict[str, GammaTable] = {}

    def key_for(self, loaded: LoadedModel) -> str:
        fingerprint = model_fingerprint(loaded.pipe)
        source = source_id(loaded.pipe, self.dataset)
        return table_key(fingerprint, loaded.base_scheduler_config, source)

    def path_for(self, loaded: LoadedModel) -> Path:
        return table_path(self.cache_dir, self.key_for(loaded))

    def table_for(
        self,
        loaded: LoadedModel,
        progress: TaskProgress | None = None,
        *,
        force: bool = False,
    ) -> GammaTable:
        """The model's table; estimated (reporting `progress`) and cached when missing or forced."""
        check_supported(loaded.pipe, loaded.ref.display_name)
        key = self.key_for(loaded)
        path = table_path(self.cache_dir, key)
        table = None if force else self._tables.get(key) or load_table(path, key)
        if table is None:
            table = self._estimate(loaded, progress or _ignore)
            save_table(path, table, key)
        self._tables[key] = table
        return table

    def _estimate(self, loaded: LoadedModel, progress: TaskProgress) -> GammaTable:
        config = loaded.base_scheduler_config
        denoise, data = clean_data(
            loaded.pipe, config, self.options, self.dataset, partial(progress, SAMPLING_TASK)
        )
        estimating = partial(progress, ESTIMATING_TASK)
        return estimate_gamma(denoise, data, config, self.options, estimating)

    def attach(self, scheduler: Any, loaded: LoadedModel, progress: TaskProgress) -> None:
        """Give an analytic-variance scheduler its table; other schedulers are left alone."""
        if isinstance(scheduler, AnalyticDDIMScheduler):
            scheduler.use_table(self.table_for(loaded, progress))


def lane_progress(job_id: str, lane: Lane, token: CancelToken, sink: EventSink) -> TaskProgress:
    """Reports a lane's table work as PrepareProgress events and stops it on any cancel."""

    def report(task: str, done: int, total: int) -> None:
        if token.cancelled:
            raise Cancelled()
        sink.emit(PrepareProgress(job_id=job_id, lane=lane, task=task, done=done, total=total))

    return report
