"""The schema of a model-pair preset: each field read and checked, one sentence per bad field.

A preset names a public teacher (`base`), the student built on it (a LoRA or a full UNet from
`adapter`, or a whole `student` pipeline), the pipeline class, the scheduler class and its
config overrides, explicit timesteps, steps, guidance, size, extra call arguments and licence.
Every problem names the file and the preset, so a user can fix their own file from the message.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from studio.core import preset_values as pv
from studio.core.models import ModelSource
from studio.core.params import MAX_SIZE, MIN_SIZE, GenerationParams, problems
from studio.core.preset_values import Bad
from studio.core.samplers import SAMPLERS, SamplerSpec
from studio.core.settings import LaneRecipe
from studio.core.student_refs import AdapterKind, AdapterRef, Pairs, is_hub_id
from studio.core.wording import shown

MAX_NAME_CHARS = 80
MAX_TRAIN_TIMESTEP = 999
FAMILY_PIPELINES: Mapping[str, frozenset[str]] = {
    "sd15": frozenset({"StableDiffusionPipeline", "LatentConsistencyModelPipeline"}),
    "sd21": frozenset({"StableDiffusionPipeline"}),
    "sdxl": frozenset({"StableDiffusionXLPipeline"}),
    "sd3": frozenset({"StableDiffusion3Pipeline"}),
    "flux": frozenset({"FluxPipeline"}),
}
EXTRA_CALL_ARGUMENTS = frozenset(
    {"eta", "max_sequence_length", "original_inference_steps", "guidance_rescale", "clip_skip"}
)
UNET_CONFIGS = frozenset({"base", "adapter"})
FIELDS = frozenset(
    {
        "name",
        "family",
        "pipeline",
        "base",
        "student",
        "adapter",
        "scheduler",
        "timesteps",
        "num_inference_steps",
        "guidance_scale",
        "width",
        "height",
        "call_kwargs",
        "teacher",
        "licence",
        "source",
        "notes",
    }
)
REQUIRED = frozenset(
    {"family", "pipeline", "base", "scheduler", "num_inference_steps", "guidance_scale", "licence"}
)
ADAPTER_FIELDS = frozenset(
    {"kind", "repo", "folder", "file", "scale", "unet_config", "allow_pickle"}
)
TEACHER_FIELDS = frozenset({"sampler", "num_inference_steps", "guidance_scale"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelPreset:
    """A checked preset: a published teacher/student pair and how the student must be run."""

    name: str
    family: str
    pipeline: str
    base: str
    base_source: ModelSource
    student: str
    student_source: ModelSource
    adapter: AdapterRef | None
    scheduler: str
    scheduler_overrides: Pairs
    sampler: str
    timesteps: tuple[int, ...]
    num_inference_steps: int
    guidance_scale: float
    eta: float
    call_kwargs: Pairs
    width: int
    height: int
    teacher: LaneRecipe
    licence: str
    source: str = ""
    notes: str = ""
    origin: str = ""


# --- structured fields -----------------------------------------------------------------------


def read_adapter(value: object, user: bool) -> AdapterRef | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Bad(f"must be a JSON object or null, not {type(value).__name__}")
    pv.known_fields(value, ADAPTER_FIELDS)
    kind = value.get("kind")
    if not isinstance(kind, str) or kind not in {k.value for k in AdapterKind}:
        raise Bad(f"kind must be 'lora' or 'unet', not {shown(kind)}")
    if ("repo" in value) == ("folder" in value):
        raise Bad("must name exactly one of 'repo' (a hub id) or 'folder' (a local folder)")
    location, source = _adapter_location(value)
    unet_config = value.get("unet_config", "base")
    known = isinstance(unet_config, str) and unet_config in UNET_CONFIGS
    if not known or (kind == "lora" and unet_config != "base"):
        raise Bad("unet_config must be 'base' or 'adapter', and only for a full UNet")
    allow_pickle = value.get("allow_pickle", False)
    if not isinstance(allow_pickle, bool) or (allow_pickle and not user):
        raise Bad("allow_pickle may only be true in a user's own preset, as their opt-in")
    try:
        file = pv.relative_file(value.get("file"))
    except Bad as exc:
        raise Bad(f"file {exc}") from exc
    try:
        scale = pv.number(value.get("scale", 1.0), 0.0, 4.0)
    except Bad as exc:
        raise Bad(f"scale {exc}") from exc
    return AdapterRef(
        kind=AdapterKind(kind),
        location=location,
        file=file,
        source=source,
        scale=scale,
        unet_config=unet_config,
        allow_pickle=allow_pickle,
    )


def _adapter_location(value: Mapping[str, Any]) -> tuple[str, ModelSource]:
    if "repo" in value:
        repo = value["repo"]
        if not isinstance(repo, str) or not is_hub_id(repo):
            raise Bad(f"repo must be a hub id like 'org/name', not {shown(repo)}")
        return repo, ModelSource.hub
    location, source = pv.location(value["folder"])
    if source is not ModelSource.folder:
        raise Bad("folder must be an absolute local folder path")
    return location, source


# A model's default scheduler must run without per-model preparation (a Gamma table, a trained
# AMED predictor): those samplers are chosen per lane, never named by a preset.
PRESET_SAMPLERS = tuple(s for s in SAMPLERS if not (s.needs_gamma_table or s.needs_predictor))


def fitting_sampler(scheduler: str, overrides: Pairs) -> SamplerSpec | None:
    """The catalogue sampler for a scheduler class: the one whose own overrides the preset
    repeats most fully (Euler + trailing spacing -> 'Euler trailing')."""
    given = dict(overrides)
    candidates = [
        s
        for s in PRESET_SAMPLERS
        if s.scheduler == scheduler and all(given.get(k) == v for k, v in s.overrides.items())
    ]
    return max(candidates, key=lambda s: len(s.overrides), default=None)


def read_scheduler(value: object) -> tuple[str, Pairs, str]:
    """The scheduler class, its config overrides, and the catalogue sampler that builds it."""
    if not isinstance(value, dict):
        raise Bad(f"must be a JSON object with 'class' and 'overrides', not {shown(value)}")
    pv.known_fields(value, frozenset({"class", "overrides"}))
    name = value.get("class")
    if not isinstance(name, str) or not name.isidentifier():
        raise Bad(f"class must be a diffusers scheduler class name, not {shown(name)}")
    try:
        overrides = pv.scalar_pairs(value.get("overrides", {}))
    except Bad as exc:
        raise Bad(f"overrides {exc}") from exc
    spec = fitting_sampler(name, overrides)
    if spec is None:
        known = ", ".join(sorted({s.scheduler for s in PRESET_SAMPLERS}))
        raise Bad(f"class {shown(name)} is not a scheduler the studio runs: use one of {known}")
    return name, overrides, spec.name


def read_timesteps(value: object, steps: int | None) -> tuple[int, ...]:
    if value is None or value == []:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(t, int) and not isinstance(t, bool) for t in value
    ):
        raise Bad(f"must be a list of whole numbers, not {shown(value)}")
    if not all(0 <= t <= MAX_TRAIN_TIMESTEP for t in value):
        raise Bad(f"must lie between 0 and {MAX_TRAIN_TIMESTEP}")
    if any(a <= b for a, b in itertools.pairwise(value)):
        raise Bad("must count down, each below the one before")
    if steps is not None and len(value) != steps:
        raise Bad(f"has {len(value)} entries but num_inference_steps is {steps}")
    return tuple(value)


def read_recipe_values(sampler: str, steps: object, guidance: object, eta: object) -> None:
    """Check a lane recipe with the same rules as a generation's parameters."""
    params = GenerationParams().with_(
        sampler=sampler, num_inference_steps=steps, guidance_scale=guidance, eta=eta
    )
    found = problems(params)
    if found:
        raise Bad(f"is unusable: {found[0][0].lower()}{found[0][1:].rstrip('.')}")


def read_teacher(value: object, default: LaneRecipe) -> LaneRecipe:
    if value is None:
        return default
    if not isinstance(value, dict):
        raise Bad(f"must be a JSON object with sampler, steps and guidance, not {shown(value)}")
    pv.known_fields(value, TEACHER_FIELDS)
    sampler = value.get("sampler", default.sampler)
    steps = value.get("num_inference_steps", default.num_inference_steps)
    guidance = value.get("guidance_scale", default.guidance_scale)
    read_recipe_values(sampler, steps, guidance, 0.0)
    return LaneRecipe(sampler=sampler, num_inference_steps=steps, guidance_scale=float(guidance))


# --- one preset ------------------------------------------------------------------------------

FAMILY_TEACHERS: Mapping[str, LaneRecipe] = {
    "sd15": LaneRecipe(sampler="DPM++ 2M Karras", num_inference_steps=25, guidance_scale=7.0),
    "sd21": LaneRecipe(sampler="DPM++ 2M Karras", num_inference_steps=25, guidance_scale=7.0),
    "sdxl": LaneRecipe(sampler="DPM++ 2M Karras", num_inference_steps=25, guidance_scale=6.0),
    "sd3": LaneRecipe(sampler="Flow Euler", num_inference_steps=28, guidance_scale=3.5),
    "flux": LaneRecipe(sampler="Flow Euler", num_inference_steps=50, guidance_scale=3.5),
}
FAMILY_SIDES: Mapping[str, int] = {
    "sd15": 512,
    "sd21": 512,
    "sdxl": 1024,
    "sd3": 1024,
    "flux": 1024,
}


class _Fields:
    """Reads one preset's fields in order, keeping each value and one sentence per bad one."""

    def __init__(self, data: Mapping[str, Any], label: str) -> None:
        self.data, self.label = data, label
        self.values: dict[str, Any] = {}
        self.problems: list[str] = []

    def read(self, key: str, reader: Callable[[Any], Any], default: Any = None) -> Any:
        if key not in self.data:
            if key in REQUIRED:
                self.problems.append(f"{self.label}: {key} is missing.")
            self.values[key] = default
            return default
        try:
            self.values[key] = reader(self.data[key])
        except Bad as exc:
            self.problems.append(f"{self.label}: {key} {exc}.")
            self.values[key] = None
        return self.values[key]


def _family(value: object) -> str:
    if not isinstance(value, str) or value not in FAMILY_PIPELINES:
        raise Bad(f"must be one of {', '.join(FAMILY_PIPELINES)}, not {shown(value)}")
    return str(value)


def _pipeline_for(family: str | None) -> Callable[[object], str]:
    def read(value: object) -> str:
        allowed = FAMILY_PIPELINES.get(family or "") or frozenset().union(
            *FAMILY_PIPELINES.values()
        )
        if not isinstance(value, str) or value not in allowed:
            raise Bad(f"must be one of {', '.join(sorted(allowed))}, not {shown(value)}")
        return str(value)

    return read


def _side(value: object) -> int:
    whole = isinstance(value, int) and not isinstance(value, bool)
    if whole and MIN_SIZE <= value <= MAX_SIZE and value % 8 == 0:  # type: ignore[operator]
        return value  # type: ignore[return-value]
    raise Bad(f"must be a multiple of 8 from {MIN_SIZE} to {MAX_SIZE} pixels, not {shown(value)}")


def _call_kwargs(value: object) -> Pairs:
    pairs = pv.scalar_pairs(value, EXTRA_CALL_ARGUMENTS)
    try:
        pv.number(dict(pairs).get("eta", 0.0), 0.0, 1.0)
    except Bad as exc:
        raise Bad(f"gives eta a bad value: it {exc}") from exc
    return pairs


def _read_all(f: _Fields, user: bool) -> None:
    family = f.read("family", _family)
    f.read("pipeline", _pipeline_for(family))
    f.read("base", pv.location)
    f.read("student", pv.location)
    f.read("adapter", lambda v: read_adapter(v, user))
    f.read("scheduler", read_scheduler)
    steps = f.read("num_inference_steps", lambda v: pv.whole(v, 1, 1000))
    f.read("timesteps", lambda v: read_timesteps(v, steps), ())
    f.read("guidance_scale", lambda v: pv.number(v, 0.0, 100.0))
    side = FAMILY_SIDES.get(family or "", 512)
    f.read("width", _side, side)
    f.read("height", _side, side)
    f.read("call_kwargs", _call_kwargs, ())
    default_teacher = FAMILY_TEACHERS.get(family or "", FAMILY_TEACHERS["sd15"])
    f.read("teacher", lambda v: read_teacher(v, default_teacher), default_teacher)
    f.read("licence", pv.text)
    f.read("source", pv.text, "")
    f.read("notes", pv.text, "")


def _build(name: str, v: Mapping[str, Any], origin: str) -> ModelPreset:
    scheduler, overrides, sampler = v["scheduler"]
    base, base_source = v["base"]
    student, student_source = v["student"] or v["base"]
    extra = dict(v["call_kwargs"])
    eta = float(extra.pop("eta", 0.0))
    return ModelPreset(
        name=name,
        family=v["family"],
        pipeline=v["pipeline"],
        base=base,
        base_source=base_source,
        student=student,
        student_source=student_source,
        adapter=v["adapter"],
        scheduler=scheduler,
        scheduler_overrides=overrides,
        sampler=sampler,
        timesteps=v["timesteps"],
        num_inference_steps=v["num_inference_steps"],
        guidance_scale=v["guidance_scale"],
        eta=eta,
        call_kwargs=tuple(sorted(extra.items())),
        width=v["width"],
        height=v["height"],
        teacher=v["teacher"],
        licence=v["licence"],
        source=v["source"],
        notes=v["notes"],
        origin=origin,
    )


def parse_preset(
    data: object, origin: str, *, index: int = 0, user: bool = False
) -> tuple[ModelPreset | None, list[str]]:
    """The preset in `data`, or None with one sentence per bad field naming file and preset."""
    if not isinstance(data, dict):
        return None, [f"{origin}: presets[{index}] is not a JSON object, so it is left out."]
    try:
        name = pv.text(data.get("name"), MAX_NAME_CHARS)
    except Bad as exc:
        return None, [f"{origin}: presets[{index}] name {exc}, so it is left out."]
    f = _Fields(data, f"{origin}, preset {name!r}")
    try:
        pv.known_fields(data, FIELDS)
    except Bad as exc:
        f.problems.append(f"{f.label}: the preset {exc}.")
    _read_all(f, user)
    if f.problems:
        return None, f.problems
    preset = _build(name, f.values, origin)
    try:
        read_recipe_values(
            preset.sampler, preset.num_inference_steps, preset.guidance_scale, preset.eta
        )
    except Bad as exc:
        return None, [f"{f.label}: the student's recipe is unusable: {exc}."]
    return preset, []
