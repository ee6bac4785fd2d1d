"""References to distilled students built on a base model: an adapter file and how to sample.

A `StudentRef` is a `ModelRef` (its location names the base pipeline, or a whole student
pipeline) with what turns that pipeline into the student: a LoRA applied for the student lane
only, or a full UNet swapped in, and the sampling facts the student was distilled with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from enum import StrEnum

from studio.core.models import ModelRef, ModelSource

JsonScalar = str | int | float | bool | None
Pairs = tuple[tuple[str, JsonScalar], ...]
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


def is_hub_id(text: str) -> bool:
    """Whether `text` has the form of a hub model id, `org/name`."""
    return bool(HUB_ID.match(text)) and ".." not in text


class AdapterKind(StrEnum):
    """How an adapter file changes its base: low-rank deltas, or a whole denoiser."""

    lora = "lora"
    unet = "unet"


@dataclass(frozen=True, slots=True, kw_only=True)
class AdapterRef:
    """One adapter file: a hub repository or a local folder, and the file's path inside it.

    `unet_config` (full UNets only) says where the UNet's architecture comes from: `base` (the
    base pipeline's UNet config, e.g. SDXL-Lightning) or `adapter` (a config.json beside the
    file, e.g. LCM-SDXL, whose UNet takes a guidance embedding the base has not).
    `allow_pickle` is the user's opt-in for this one file, as for `ModelRef`.
    """

    kind: AdapterKind
    location: str
    file: str
    source: ModelSource = ModelSource.hub
    scale: float = 1.0
    unet_config: str = "base"
    allow_pickle: bool = False

    @property
    def display_name(self) -> str:
        return self.file.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True, kw_only=True)
class StudentSampling:
    """What a student was distilled with, applied whatever the lane's recipe says.

    `scheduler_overrides` go into the student's scheduler config before the lane's sampler is
    built from it (`prediction_type="sample"` for an x0 UNet, trailing spacing);
    `timesteps` are passed as `timesteps=` when the lane runs exactly that many steps;
    `call_kwargs` are extra pipeline arguments such as `max_sequence_length`;
    `pipeline` is the diffusers pipeline class the student must load as, and `scheduler` the
    scheduler class the overrides are meant for.
    """

    pipeline: str = ""
    scheduler: str = ""
    scheduler_overrides: Pairs = ()
    timesteps: tuple[int, ...] = ()
    call_kwargs: Pairs = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StudentRef(ModelRef):
    """A base pipeline made into a student by an adapter and its sampling facts.

    Unlabelled (a LoRA from the models folder rather than a preset), it shows as its base
    plus its adapter's file name.
    """

    adapter: AdapterRef | None = None
    sampling: StudentSampling = StudentSampling()

    @property
    def display_name(self) -> str:
        base = ModelRef.display_name.fget(self)  # type: ignore[attr-defined]
        if self.label or self.adapter is None:
            return base
        return f"{base} + {self.adapter.display_name}"


def base_ref(ref: ModelRef) -> ModelRef:
    """The plain reference of the pipeline under `ref` (unlabelled, without any adapter)."""
    values = {f.name: getattr(ref, f.name) for f in fields(ModelRef) if f.name != "label"}
    return ModelRef(**values)
