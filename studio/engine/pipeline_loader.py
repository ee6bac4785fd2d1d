"""The model cache's loader: plain references load a pipeline, student references are derived
from their base, and a pipeline still in memory is never loaded a second time."""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import Any

from studio.core.models import ModelRef
from studio.core.student_refs import StudentRef, base_ref
from studio.engine.loading import LoadedModel, load_pipeline
from studio.engine.students import StudentModel, derive_student

BaseKey = tuple[ModelRef, str]


class PipelineLoader:
    """Loads what a `ModelRef` names, sharing pipelines already alive.

    A base pipeline is alive while the cache or any student made from it holds it; asking
    for it again (the teacher lane of a preset, a second student on the same base) returns
    that pipeline instead of loading another copy. Student references become `StudentModel`s
    over their base (see `studio.engine.students`).
    """

    def __init__(
        self, load: Callable[..., LoadedModel] = load_pipeline, *, local_only: bool = True
    ) -> None:
        self._load = load
        self._local_only = local_only
        self._bases: dict[BaseKey, weakref.ref[LoadedModel]] = {}
        self._students: list[weakref.ref[StudentModel]] = []

    def __call__(self, ref: ModelRef, *, device: str = "auto", **options: Any) -> LoadedModel:
        if isinstance(ref, StudentRef):
            return self._student(ref, device, options)
        return self._base(ref, device, options)

    def _base(self, ref: ModelRef, device: str, options: dict[str, Any]) -> LoadedModel:
        key = (base_ref(ref), device)
        entry = self._bases.get(key)
        loaded = entry() if entry is not None else None
        if loaded is None:
            loaded = self._load(ref, device=device, local_only=self._local_only, **options)
            self._bases[key] = weakref.ref(loaded)
        return loaded

    def _student(self, ref: StudentRef, device: str, options: dict[str, Any]) -> StudentModel:
        """The student over its base; its load time includes loading the base when needed."""
        started = time.perf_counter()
        base = self._base(base_ref(ref), device, options)
        alive = [s for s in (entry() for entry in self._students) if s is not None]
        keep = {s.lora_adapter for s in alive if s.base is base and s.lora_adapter}
        student = derive_student(base, ref, local_only=self._local_only, keep=keep)
        self._students = [weakref.ref(s) for s in (*alive, student)]
        student.load_s = time.perf_counter() - started
        return student
