"""Which models a client may ask a served engine for, and where they are on the server."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from studio.core.grid import Axis, GridSpec, LaneChoice
from studio.core.jobs import CompareJob, ConvergeJob, GenerateJob, GridJob, Job, LaneSpec
from studio.core.model_resolver import ModelResolver
from studio.core.models import ModelRef, ModelSource
from studio.core.paths import resolve_inside


class ServedModels:
    """Admits a client's job only with models the server offers: the embedded ones, and folders
    or safetensors files inside the server's models folder (named relative to it). A client
    never sends a pickle, a path outside that folder or, unless the server allows it, a hub id;
    every refusal is one sentence (ValueError)."""

    def __init__(
        self, root: Path | None, allow_hub: bool = False, embedded: frozenset[str] | None = None
    ) -> None:
        self._root = root.resolve() if root is not None else None
        self._allow_hub = allow_hub
        self._embedded = (
            frozenset(ModelResolver.shipped().embedded_models()) if embedded is None else embedded
        )

    def admit(self, job: Job) -> Job:
        match job:
            case GenerateJob():
                return replace(job, lane=self._spec(job.lane))
            case CompareJob():
                return replace(
                    job, teacher=self._spec(job.teacher), student=self._spec(job.student)
                )
            case GridJob():
                return replace(job, base=self._spec(job.base), grid=self._grid(job.grid))
            case ConvergeJob():
                return replace(job, base=self._spec(job.base))
        raise ValueError(f"A served engine runs no {type(job).__name__}.")

    def names(self) -> list[str]:
        """The models this server offers by name, besides the embedded ones."""
        if self._root is None or not self._root.is_dir():
            return []
        return sorted(
            path.name
            for path in self._root.iterdir()
            if (path.is_dir() and (path / "model_index.json").is_file())
            or path.suffix == ".safetensors"
        )

    def _spec(self, spec: LaneSpec) -> LaneSpec:
        return replace(spec, model=self.ref(spec.model))

    def _grid(self, grid: GridSpec) -> GridSpec:
        return replace(grid, x=self._axis(grid.x), y=None if grid.y is None else self._axis(grid.y))

    def _axis(self, axis: Axis) -> Axis:
        values = tuple(
            self.ref(v)
            if isinstance(v, ModelRef)
            else replace(v, model=self.ref(v.model))
            if isinstance(v, LaneChoice)
            else v
            for v in axis.values
        )
        return replace(axis, values=values)

    def ref(self, ref: ModelRef) -> ModelRef:
        if ref.allow_pickle:
            raise ValueError(
                f"{ref.display_name}: a served engine never loads a pickle checkpoint from a "
                "client's request; convert it to safetensors on the server."
            )
        if ref.source is ModelSource.embedded:
            if ref.location in self._embedded:
                return ref
            if self._root is None or not (self._root / ref.location).exists():
                raise ValueError(f"{ref.location}: this server has no such model.")
            ref = replace(ref, source=ModelSource.folder)
        if ref.source is ModelSource.hub:
            if self._allow_hub:
                return ref
            raise ValueError(
                f"{ref.location}: this server does not download hub models (start it with "
                "--allow-hub), so name one of its models."
            )
        if self._root is None:
            raise ValueError(
                f"{ref.display_name}: this server has no models folder, so it serves only the "
                "embedded models."
            )
        if ref.source is ModelSource.file and not ref.location.endswith(".safetensors"):
            raise ValueError(f"{ref.display_name}: a served engine loads only .safetensors files.")
        try:
            path = resolve_inside(self._root, ref.location)
        except ValueError:
            raise ValueError(
                f"{ref.location}: not a model of this server (name one inside its models folder)."
            ) from None
        if not path.exists():
            raise ValueError(f"{ref.location}: this server has no such model.")
        return replace(ref, location=str(path))
