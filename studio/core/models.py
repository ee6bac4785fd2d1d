"""References to models: where the weights are and how to find them, as plain values."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ModelSource(StrEnum):
    """Where a model comes from."""

    embedded = "embedded"
    folder = "folder"
    hub = "hub"
    file = "file"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelRef:
    """Names one loadable pipeline: an embedded model, a diffusers folder, a hub id or a file.

    `allow_pickle` is the user's opt-in for this one file (source `file` only): a pickle
    checkpoint is then read with torch.load(weights_only=True) instead of being refused.
    `config` (source `file` only) picks the components' configs of a single-file checkpoint:
    a shipped config name (`sd15`, `sd21`, `sd21-base`, `sdxl`) or a diffusers config folder;
    empty takes the shipped default for the family its tensor names show.
    """

    location: str
    source: ModelSource = ModelSource.folder
    label: str = ""
    allow_pickle: bool = False
    config: str = ""

    @property
    def display_name(self) -> str:
        return self.label or self.location.rstrip("/").rsplit("/", 1)[-1]

    @classmethod
    def embedded(cls, name: str) -> ModelRef:
        return cls(location=name, source=ModelSource.embedded, label=name)


EMBEDDED_TEACHER = "emoji-teacher"
EMBEDDED_STUDENT = "emoji-student-4step"
EMBEDDED_SIDE = 32
OTHER_SIDE = 512
