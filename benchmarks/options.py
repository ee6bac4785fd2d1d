"""What every part of the suite is told: quick or full, where images go, the GPU part's device."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class PartOptions:
    """The options a part runs with; crosses into the part's child process as JSON."""

    quick: bool = False
    image_dir: str = "docs"
    gpu_device: str = "cuda"
    tiny: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> PartOptions:
        return cls(**json.loads(text))
