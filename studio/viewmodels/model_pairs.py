"""The model picker's choices: which teacher/student pairs the models folder and the user's
models make, each model's role told by its folder (`studio.core.model_roles`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from studio.core.lora_students import split_lora_student
from studio.core.manifest import ManifestError, read_manifest
from studio.core.model_library import split_model_name
from studio.core.model_presets import preset_name_of
from studio.core.model_roles import ModelRole, folder_role, is_model_folder
from studio.core.models import EMBEDDED_STUDENT, EMBEDDED_TEACHER
from studio.core.paths import models_dir
from studio.core.settings import LaneRecipe, default_student, default_teacher
from studio.core.shortcut import SHORTCUT_SAMPLER, SHORTCUT_STEP_COUNTS, is_shortcut_folder
from studio.core.student_refs import is_hub_id
from studio.viewmodels.model_presets import preset_catalogue

SHORTCUT_RECIPE = LaneRecipe(sampler=SHORTCUT_SAMPLER, num_inference_steps=4, guidance_scale=1.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelPair:
    """One choice of the picker: a teacher, and a student or none, with honest labels.

    `teacher_recipe` and `student_recipe` are the recipes the pair's models are meant to run
    with (None: keep the lane's current one).
    """

    teacher: str
    student: str | None
    label: str
    student_label: str = ""
    guidance_distilled: bool = False
    teacher_recipe: LaneRecipe | None = None
    student_recipe: LaneRecipe | None = None
    student_steps: tuple[int, ...] = ()

    @property
    def compare(self) -> bool:
        return self.student is not None

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.teacher, self.student)

    @property
    def embedded(self) -> bool:
        return all(is_embedded_name(name) for name in (self.teacher, self.student) if name)


def is_embedded_name(name: str) -> bool:
    return "/" not in name and "\\" not in name


def display_name(name: str) -> str:
    """An embedded name as it is; a folder or file by its last part, with a config choice;
    a LoRA student as its teacher + the LoRA file."""
    lora = split_lora_student(name)
    if lora is not None:
        return f"{display_name(lora[0])} + {Path(lora[1]).name}"
    location, config = split_model_name(name)
    if is_embedded_name(location):
        return location
    shown = Path(location).name or location
    return f"{shown} ({config})" if config else shown


def embedded_models(root: Path | None = None) -> list[str]:
    """The names of the model folders shipped under `models_dir()`, sorted."""
    base = root or models_dir()
    try:
        return sorted(p.name for p in base.iterdir() if p.is_dir() and is_model_folder(p))
    except OSError:
        return []


def teacher_recipe(teacher: str) -> LaneRecipe | None:
    """The recipe an embedded teacher runs with (the defaults); None for other models."""
    return default_teacher() if is_embedded_name(teacher) else None


def _folder_of(name: str, root: Path | None) -> Path:
    return (root or models_dir()) / name if is_embedded_name(name) else Path(name)


def _student_facts(name: str, root: Path | None) -> tuple[bool, LaneRecipe | None]:
    """Whether a student has guidance built in, and the recipe it recommends (adapter manifest)."""
    try:
        manifest = read_manifest(_folder_of(name, root))
    except (ManifestError, OSError):
        manifest = None
    if manifest is None:
        return True, None
    recipe = LaneRecipe(
        sampler=manifest.sampler,
        num_inference_steps=manifest.num_inference_steps,
        guidance_scale=manifest.guidance_scale,
        eta=manifest.eta,
    )
    return manifest.guidance_distilled, recipe


def is_student(name: str, root: Path | None = None) -> bool:
    """Whether the model `name` is a student, as its folder says."""
    return folder_role(_folder_of(name, root)) is ModelRole.student


def step_counts(name: str | None, root: Path | None = None) -> tuple[int, ...]:
    """The only step counts a model runs (a shortcut model's), or () when any."""
    if name is None or split_lora_student(name) is not None:
        return ()
    return SHORTCUT_STEP_COUNTS if is_shortcut_folder(_folder_of(name, root)) else ()


def student_pair(teacher: str, student: str, root: Path | None = None) -> ModelPair:
    if student == teacher:
        return self_pair(teacher)
    lora = split_lora_student(student) is not None
    steps = step_counts(student, root)
    recipe: LaneRecipe | None
    if steps:  # a shortcut model: guided teacher folded in, its own recipe
        distilled, recipe = True, SHORTCUT_RECIPE
    else:
        distilled, recipe = (False, None) if lora else _student_facts(student, root)
    t, s = display_name(teacher), display_name(student)
    return ModelPair(
        teacher=teacher,
        student=student,
        label=f"{t} → {s}",
        student_label=s,
        guidance_distilled=distilled,
        teacher_recipe=teacher_recipe(teacher),
        student_recipe=recipe,
        student_steps=steps,
    )


def self_pair(teacher: str) -> ModelPair:
    """The teacher against itself with a few-step recipe, labelled as what it is."""
    name = display_name(teacher)
    return ModelPair(
        teacher=teacher,
        student=teacher,
        label=f"{name} → itself, 4-step recipe",
        student_label=f"{name}, 4-step recipe",
        teacher_recipe=teacher_recipe(teacher),
        student_recipe=default_student(),
    )


def alone_pair(teacher: str) -> ModelPair:
    label = f"{display_name(teacher)} alone"
    return ModelPair(
        teacher=teacher, student=None, label=label, teacher_recipe=teacher_recipe(teacher)
    )


def pair_for(teacher: str, student: str | None, root: Path | None = None) -> ModelPair:
    """The pair of any two model names (or one alone)."""
    return alone_pair(teacher) if student is None else student_pair(teacher, student, root)


def pairs_of(models: list[str], root: Path | None = None) -> list[ModelPair]:
    """The picker's pairs for these models; the default pair first."""
    students = [m for m in models if is_student(m, root)]
    teachers = [m for m in models if m not in students]
    if EMBEDDED_TEACHER in teachers:
        teachers.remove(EMBEDDED_TEACHER)
        teachers.insert(0, EMBEDDED_TEACHER)
    if EMBEDDED_STUDENT in students:
        students.remove(EMBEDDED_STUDENT)
        students.insert(0, EMBEDDED_STUDENT)
    pairs = [student_pair(t, s, root) for t in teachers[:1] for s in students]
    for teacher in teachers:
        pairs += [self_pair(teacher), alone_pair(teacher)]
    return pairs or [alone_pair(s) for s in students]


def default_pair(root: Path | None = None) -> ModelPair:
    """The embedded teacher with the distilled student when shipped, else with itself."""
    pairs = shipped_pairs(root)
    return pairs[0] if pairs else self_pair(EMBEDDED_TEACHER)


def shipped_pairs(root: Path | None = None) -> list[ModelPair]:
    """The picker's pairs for the models shipped under `models_dir()` (or `root`)."""
    return pairs_of(embedded_models(root), root)


def model_exists(name: str) -> bool:
    """Whether the model `name` can be found now (a hub id counts: it is fetched when used)."""
    lora = split_lora_student(name)
    if lora is not None:
        return model_exists(lora[0]) and Path(lora[1]).is_file()
    if is_hub_id(name):
        return True  # found in the local cache, or downloaded, when a job runs
    preset = preset_name_of(name)
    if preset is not None:
        return preset_catalogue().find(preset) is not None
    location, _config = split_model_name(name)
    if is_embedded_name(location):
        return location in embedded_models()
    return Path(location).is_file() or is_model_folder(Path(location))
