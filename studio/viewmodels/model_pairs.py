"""The model picker's choices: which teacher/student pairs the models folder and the user's
models make, each model's role told by the resolver (its folder, preset or adapter)."""

from __future__ import annotations

from dataclasses import dataclass

from studio.core.manifest import ManifestError, read_manifest
from studio.core.model_names import NameKind, is_embedded_name, parse_model_name
from studio.core.model_resolver import ModelResolver, display_name
from studio.core.model_roles import ModelRole
from studio.core.models import EMBEDDED_SIDE, EMBEDDED_STUDENT, EMBEDDED_TEACHER
from studio.core.native_size import Size, default_size
from studio.core.settings import LaneRecipe, default_student, default_teacher
from studio.core.shortcut import SHORTCUT_STEP_COUNTS, is_shortcut_folder
from studio.core.student_recipe import SHORTCUT_RECIPE


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


def teacher_recipe(teacher: str) -> LaneRecipe | None:
    """The recipe an embedded teacher runs with (the defaults); None for other models."""
    return default_teacher() if is_embedded_name(teacher) else None


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


class ModelPairs:
    """Makes the picker's pairs of model names, asking `resolver` what each model is."""

    def __init__(self, resolver: ModelResolver) -> None:
        self.resolver = resolver

    def is_student(self, name: str) -> bool:
        """Whether the model `name` is a student, as its folder, preset or adapter says."""
        return self.resolver.role(name) is ModelRole.student

    def step_counts(self, name: str | None) -> tuple[int, ...]:
        """The only step counts a model runs (a shortcut model's), or () when any."""
        if name is None or parse_model_name(name).kind is NameKind.lora:
            return ()
        return SHORTCUT_STEP_COUNTS if is_shortcut_folder(self.resolver.folder_of(name)) else ()

    def _student_facts(self, name: str) -> tuple[bool, LaneRecipe | None]:
        """Whether a student has guidance built in, and the recipe its adapter manifest
        recommends."""
        try:
            manifest = read_manifest(self.resolver.folder_of(name))
        except (ManifestError, OSError):
            manifest = None
        if manifest is None:
            return True, None
        return manifest.guidance_distilled, LaneRecipe.recommended_by(manifest)

    def student_pair(self, teacher: str, student: str) -> ModelPair:
        if student == teacher:
            return self_pair(teacher)
        lora = parse_model_name(student).kind is NameKind.lora
        steps = self.step_counts(student)
        recipe: LaneRecipe | None
        if steps:  # a shortcut model: guided teacher folded in, its own recipe
            distilled, recipe = True, SHORTCUT_RECIPE
        else:
            distilled, recipe = (False, None) if lora else self._student_facts(student)
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

    def pair_for(self, teacher: str, student: str | None) -> ModelPair:
        """The pair of any two model names (or one alone)."""
        return alone_pair(teacher) if student is None else self.student_pair(teacher, student)

    def pairs_of(self, models: list[str]) -> list[ModelPair]:
        """The picker's pairs for these models; the default pair first."""
        students = [m for m in models if self.is_student(m)]
        teachers = [m for m in models if m not in students]
        if EMBEDDED_TEACHER in teachers:
            teachers.remove(EMBEDDED_TEACHER)
            teachers.insert(0, EMBEDDED_TEACHER)
        if EMBEDDED_STUDENT in students:
            students.remove(EMBEDDED_STUDENT)
            students.insert(0, EMBEDDED_STUDENT)
        pairs = [self.student_pair(t, s) for t in teachers[:1] for s in students]
        for teacher in teachers:
            pairs += [self_pair(teacher), alone_pair(teacher)]
        return pairs or [alone_pair(s) for s in students]

    def native_size(self, teacher: str, student: str | None = None) -> Size:
        """The size these models were made for (see `studio.core.native_size`)."""
        refs, _ = self.resolver.resolve_all(name for name in (teacher, student) if name)
        return default_size(refs, self.resolver.presets)

    def size_after(self, pair: ModelPair, current: Size, before: tuple[str, str | None]) -> Size:
        """The image size once `pair` replaces the models `before`: an embedded pair's own; for
        other models their family's when the size was the previous models' default (or the
        embedded 32), else the size the user chose."""
        native = self.native_size(*pair.key)
        if pair.embedded or current == (EMBEDDED_SIDE, EMBEDDED_SIDE):
            return native
        return native if current == self.native_size(*before) else current

    def shipped(self) -> list[ModelPair]:
        """The picker's pairs for the models shipped in the resolver's models folder."""
        return self.pairs_of(self.resolver.embedded_models())

    def default(self) -> ModelPair:
        """The embedded teacher with the distilled student when shipped, else with itself."""
        pairs = self.shipped()
        return pairs[0] if pairs else self_pair(EMBEDDED_TEACHER)
