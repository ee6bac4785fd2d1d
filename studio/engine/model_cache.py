"""Loaded pipelines kept by reference, least recently used evicted past a small budget."""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Callable

import torch

from studio.core.models import ModelRef
from studio.engine.loading import LoadedModel, load_pipeline


class ModelCache:
    """Owns the loaded pipelines of one worker thread; evicting one frees its memory."""

    def __init__(
        self,
        capacity: int = 2,
        loader: Callable[..., LoadedModel] = load_pipeline,
        device: str = "auto",
    ) -> None:
        self.capacity = max(1, capacity)
        self._loader = loader
        self._device = device
        self._models: OrderedDict[ModelRef, LoadedModel] = OrderedDict()

    def get(self, ref: ModelRef, keep: tuple[ModelRef, ...] = ()) -> tuple[LoadedModel, bool]:
        """The loaded model and whether this call loaded it."""
        if ref in self._models:
            self._models.move_to_end(ref)
            return self._models[ref], False
        self._evict(keep=(*keep, ref), room_for=1)
        loaded = self._loader(ref, device=self._device)
        self._models[ref] = loaded
        return loaded, True

    def _evict(self, keep: tuple[ModelRef, ...], room_for: int) -> None:
        while len(self._models) + room_for > self.capacity:
            victim = next((r for r in self._models if r not in keep), None)
            if victim is None:
                return
            del self._models[victim]
            _release()

    def clear(self) -> None:
        self._models.clear()
        _release()

    def __contains__(self, ref: ModelRef) -> bool:
        return ref in self._models


def _release() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
