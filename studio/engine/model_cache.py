"""Loaded pipelines kept within a memory budget, least recently used evicted first."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import replace

from studio.core.engine_options import EngineOptions, Offload
from studio.core.models import ModelRef
from studio.engine.loading import LoadedModel, load_pipeline
from studio.engine.memory import (
    MB,
    Footprint,
    MemoryBudget,
    Storages,
    default_budget,
    is_out_of_memory,
    release_memory,
    storages,
    total,
)

log = logging.getLogger(__name__)


class ModelCache:
    """Owns the loaded pipelines of one worker thread, within a budget of weight bytes in RAM
    and on the GPU and a count; models the current job uses are never evicted, and evicting
    one drops every reference the cache holds, then hands the memory back."""

    def __init__(
        self,
        capacity: int | None = None,
        loader: Callable[..., LoadedModel] = load_pipeline,
        device: str = "auto",
        *,
        budget: MemoryBudget | None = None,
        offload: Offload | str = Offload.none,
    ) -> None:
        budget = budget or default_budget()
        if capacity is not None:
            budget = replace(budget, max_models=capacity)
        self.budget = replace(budget, max_models=max(1, budget.max_models))
        self._loader = loader
        self._device = device
        self._offload = Offload(offload)
        self._models: OrderedDict[ModelRef, LoadedModel] = OrderedDict()
        self._known: dict[ModelRef, Storages] = {}

    @classmethod
    def for_options(
        cls, options: EngineOptions, loader: Callable[..., LoadedModel] = load_pipeline
    ) -> ModelCache:
        return cls(
            loader=loader,
            budget=default_budget(options),
            device=options.device,
            offload=options.offload,
        )

    def reconfigured(self, options: EngineOptions) -> ModelCache:
        """A new, empty cache for `options` that loads with this cache's loader."""
        return ModelCache.for_options(options, loader=self._loader)

    @property
    def capacity(self) -> int:
        return self.budget.max_models

    def get(self, ref: ModelRef, keep: tuple[ModelRef, ...] = ()) -> tuple[LoadedModel, bool]:
        """The loaded model and whether this call loaded it; `keep` names the models in use."""
        if ref in self._models:
            self._models.move_to_end(ref)
            return self._models[ref], False
        keep = tuple(dict.fromkeys((*keep, ref)))
        self._evict(keep, incoming=self._known.get(ref, {}))
        loaded = self._load(ref, keep)
        self._models[ref] = loaded
        self._known[ref] = storages([loaded.pipe])
        self._evict(keep)
        return loaded, True

    def _load(self, ref: ModelRef, keep: tuple[ModelRef, ...]) -> LoadedModel:
        """Load `ref`; when memory runs out, evict every model not in use and try once more."""
        try:
            return self._call_loader(ref)
        except Exception as exc:
            if not is_out_of_memory(exc) or not self._evictable(keep):
                raise
            log.warning("out of memory loading %s; freeing unused models", ref.display_name)
        self._drop([r for r in self._models if r not in keep])
        return self._call_loader(ref)

    def _call_loader(self, ref: ModelRef) -> LoadedModel:
        if self._offload is Offload.none:
            return self._loader(ref, device=self._device)
        return self._loader(ref, device=self._device, offload=self._offload.value)

    def _storages(self) -> Storages:
        return storages(loaded.pipe for loaded in self._models.values())

    def usage(self) -> Footprint:
        """The weight bytes the cached models hold now, shared weights counted once."""
        return total(self._storages())

    def _over(self, incoming: Storages | None) -> bool:
        """Whether the cache, plus a model with the `incoming` storages when given (as measured
        at its last load; those it shares with cached models count once), exceeds the budget."""
        extra = 0 if incoming is None else 1
        if len(self._models) + extra > self.budget.max_models:
            return True
        return not total(self._storages() | (incoming or {})).fits(self.budget)

    def _evictable(self, keep: tuple[ModelRef, ...]) -> list[ModelRef]:
        return [r for r in self._models if r not in keep]

    def _evict(self, keep: tuple[ModelRef, ...], incoming: Storages | None = None) -> None:
        """Drop least recently used models not in `keep` until the budget holds (with room for
        one more model when `incoming` is given)."""
        victims: list[ModelRef] = []
        candidates = iter(self._evictable(keep))
        while self._over(incoming):
            victim = next(candidates, None)
            if victim is None:
                self._warn_over(keep)
                break
            victims.append(victim)
            self._models.pop(victim)
        self._drop(victims)

    def _warn_over(self, keep: tuple[ModelRef, ...]) -> None:
        used = self.usage()
        log.warning(
            "the models in use (%s) exceed the cache budget: %.0f MB RAM of %.0f, "
            "%.0f MB GPU of %.0f",
            ", ".join(r.display_name for r in keep),
            used.ram / MB,
            self.budget.ram_bytes / MB,
            used.gpu / MB,
            self.budget.gpu_bytes / MB,
        )

    def _drop(self, refs: list[ModelRef]) -> None:
        for ref in refs:
            self._models.pop(ref, None)
        if refs:
            release_memory()

    def clear(self) -> None:
        self._drop(list(self._models))

    def __contains__(self, ref: ModelRef) -> bool:
        return ref in self._models

    def __iter__(self) -> Iterator[ModelRef]:
        """The cached models, least recently used first."""
        return iter(list(self._models))

    def __len__(self) -> int:
        return len(self._models)
