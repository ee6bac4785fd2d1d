"""Turning the session's values into jobs: model references, seeds, one-line summaries."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from studio.core.events import Event, JobCancelled, JobFailed, JobFinished
from studio.core.jobs import CompareJob, ConvergeJob, GridJob, Job
from studio.core.lora_students import lora_student_ref, split_lora_student
from studio.core.model_library import split_model_name
from studio.core.model_presets import preset_name_of
from studio.core.models import ModelRef, ModelSource
from studio.core.params import MAX_SEED
from studio.core.pickle_permissions import PicklePermissions
from studio.core.settings import SeedMode
from studio.core.student_refs import StudentRef, is_hub_id
from studio.viewmodels.job_tracker import JobRecord
from studio.viewmodels.lane import LaneEnd
from studio.viewmodels.model_presets import preset_ref


def model_ref_for(name: str, pickles: PicklePermissions | None = None) -> ModelRef:
    """An embedded model name, a diffusers folder, a single-file checkpoint (with its config
    choice, see studio.core.model_library.model_name), a preset or a LoRA student; ValueError
    with one sentence otherwise. A single file gets `allow_pickle` only when `pickles` allows
    that very file as it is now."""
    text = name.strip() if isinstance(name, str) else ""
    if not text:
        raise ValueError("Choose a model: the model name is empty.")
    preset = preset_name_of(text)
    if preset is not None:
        return preset_ref(preset)
    lora = split_lora_student(text)
    if lora is not None:
        return _lora_student(*lora, pickles)
    location, config = split_model_name(text)
    path = Path(location).expanduser()
    if path.is_dir():
        return ModelRef(location=str(path.resolve()), source=ModelSource.folder)
    if path.is_file():
        ref = ModelRef(location=str(path.resolve()), source=ModelSource.file, config=config)
        return pickles.applied_to(ref) if pickles is not None else ref
    if "/" not in text and "\\" not in text and not text.startswith("."):
        return ModelRef.embedded(text)
    if is_hub_id(text):
        return ModelRef(location=text, source=ModelSource.hub)
    raise ValueError(f"There is no model folder or file at {location}.")


def _lora_student(teacher: str, lora: str, pickles: PicklePermissions | None) -> ModelRef:
    base = model_ref_for(teacher, pickles)
    if isinstance(base, StudentRef):
        raise ValueError(
            f"The LoRA {Path(lora).name} needs a plain teacher, and {teacher} is a student."
        )
    path = Path(lora).expanduser()
    if not path.is_file():
        raise ValueError(f"There is no LoRA file at {lora}.")
    return lora_student_ref(base, path.resolve())


def resolve_models(
    names: list[str], pickles: PicklePermissions | None = None
) -> tuple[list[ModelRef], list[str]]:
    """The references of model names, and one sentence for each name that names nothing."""
    refs: list[ModelRef] = []
    found: list[str] = []
    for name in names:
        try:
            refs.append(model_ref_for(name, pickles))
        except ValueError as exc:
            found.append(str(exc))
    return refs, found


@dataclass(frozen=True, slots=True)
class Settlement:
    """How a job's end shows: how its unfinished lanes ended (`ended`, and `status` to show),
    which images to save (`keep_partial` None drops them all), and an error to show."""

    ended: LaneEnd
    status: str
    keep_partial: bool | None
    error: str = ""


def settlement(record: JobRecord, event: Event) -> Settlement:
    match event:
        case _ if record.discarded:
            return Settlement(LaneEnd.cancelled, "Cancelled", None)
        case JobFailed(message=message):
            return Settlement(LaneEnd.failed, "Failed", False, message)
        case JobCancelled(kept_partial=True):
            return Settlement(LaneEnd.stopped, "Stopped", record.user_stopped)
        case JobCancelled():
            return Settlement(LaneEnd.cancelled, "Cancelled", None)
        case JobFinished():
            return Settlement(LaneEnd.done, "Done", False)
    return Settlement(LaneEnd.done, "", False)


def job_kind(job: Job) -> str:
    if isinstance(job, GridJob):
        return f"Grid {job.grid.columns}x{job.grid.rows}"
    if isinstance(job, ConvergeJob):
        return "Convergence"
    return "Compare" if isinstance(job, CompareJob) else "Generate"


def job_summary(job: Job, limit: int = 40) -> str:
    """One line for the queue list, e.g. "Compare · seed 42 · 32x32 · grinning face…"."""
    params = job.lanes[0][1].params
    prompt = params.prompt.replace("\n", " ")
    prompt = prompt if len(prompt) <= limit else prompt[: limit - 1] + "…"
    return f"{job_kind(job)} · seed {params.seed} · {params.width}x{params.height} · {prompt}"


def seeds_for(mode: SeedMode, seed: int, count: int, rng: random.Random) -> list[int]:
    """The seeds of `count` jobs: all `seed`, `seed`, `seed`+1, ..., or random ones."""
    if mode is SeedMode.random:
        return [rng.randint(0, MAX_SEED) for _ in range(count)]
    valid = isinstance(seed, int) and 0 <= seed <= MAX_SEED
    if mode is SeedMode.increment and valid:
        return [(seed + i) % (MAX_SEED + 1) for i in range(count)]
    return [seed] * count
