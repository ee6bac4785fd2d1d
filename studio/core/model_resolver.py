"""The model-name resolver: model names (`studio.core.model_names`) to the references jobs carry,
within one models folder and one preset catalogue, which the composition root chooses."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from studio.core.emoji_vocabulary import EmojiVocabulary
from studio.core.lora_students import lora_student_ref
from studio.core.model_kinds import ModelFacts, model_facts
from studio.core.model_names import ModelName, NameKind, is_embedded_name, parse_model_name
from studio.core.model_presets import (
    PresetCatalogue,
    default_user_presets_dir,
    load_model_presets,
    student_ref,
)
from studio.core.model_roles import ModelRole, folder_role, is_model_folder
from studio.core.models import ModelRef, ModelSource
from studio.core.paths import models_dir, presets_dir
from studio.core.pickle_permissions import PicklePermissions
from studio.core.preset_schema import ModelPreset
from studio.core.student_refs import StudentRef


@dataclass(frozen=True, slots=True)
class ModelResolver:
    """Answers every question asked of a model name: its reference, whether it names something
    now, its folder, its role and its facts, in `models_root` (the shipped
    models) and `presets` (the model-pair presets, `preset:<name>`)."""

    models_root: Path
    presets: PresetCatalogue = field(default_factory=lambda: PresetCatalogue(()))
    user_presets: Path | None = None

    @classmethod
    def shipped(cls, user_presets: Path | None = None) -> ModelResolver:
        """The shipped models and presets, with the user's presets from `user_presets` (the
        user's config folder when None)."""
        folder = default_user_presets_dir() if user_presets is None else user_presets
        return cls(models_dir(), load_model_presets(presets_dir(), folder), folder)

    # --- references ----------------------------------------------------------------------------

    def resolve(self, name: str, pickles: PicklePermissions | None = None) -> ModelRef:
        """The reference of `name`; ValueError in one sentence when it names nothing. A single
        file gets `allow_pickle` only when `pickles` allows that very file as it is now."""
        parsed = parse_model_name(name)
        match parsed.kind:
            case NameKind.empty:
                raise ValueError("Choose a model: the model name is empty.")
            case NameKind.preset:
                return student_ref(self._preset_or_fail(parsed.location))
            case NameKind.lora:
                return self._lora_student(parsed, pickles)
            case NameKind.folder:
                return ModelRef(location=parsed.location, source=ModelSource.folder)
            case NameKind.file:
                location, config = parsed.location, parsed.config
                ref = ModelRef(location=location, source=ModelSource.file, config=config)
                return pickles.applied_to(ref) if pickles is not None else ref
            case NameKind.embedded:
                return ModelRef.embedded(parsed.location)
            case NameKind.hub:
                return ModelRef(location=parsed.location, source=ModelSource.hub)
        raise ValueError(f"There is no model folder or file at {parsed.location}.")

    def resolve_all(
        self, names: Iterable[str], pickles: PicklePermissions | None = None
    ) -> tuple[list[ModelRef], list[str]]:
        """The references of `names`, and one sentence for each name that names nothing."""
        refs: list[ModelRef] = []
        problems: list[str] = []
        for name in names:
            try:
                refs.append(self.resolve(name, pickles))
            except ValueError as exc:
                problems.append(str(exc))
        return refs, problems

    def _preset_or_fail(self, name: str) -> ModelPreset:
        preset = self.presets.find(name)
        if preset is None:
            where = self.user_presets or default_user_presets_dir()
            raise ValueError(
                f"There is no model preset named '{name}': choose one in the preset picker, or "
                f"check the preset files in {where}."
            )
        return preset

    def _lora_student(self, parsed: ModelName, pickles: PicklePermissions | None) -> StudentRef:
        base = self.resolve(parsed.location, pickles)
        if isinstance(base, StudentRef):
            raise ValueError(
                f"The LoRA {Path(parsed.lora).name} needs a plain teacher, and "
                f"{parsed.location} is a student."
            )
        path = Path(parsed.lora).expanduser()
        if not path.is_file():
            raise ValueError(f"There is no LoRA file at {parsed.lora}.")
        return lora_student_ref(base, path.resolve())

    # --- what a name names now -----------------------------------------------------------------

    def preset(self, name: str) -> ModelPreset | None:
        return self.presets.find(name)

    def embedded_models(self) -> list[str]:
        """The names of the model folders shipped under `models_root`, sorted."""
        try:
            children = list(self.models_root.iterdir())
        except OSError:
            return []
        return sorted(p.name for p in children if p.is_dir() and is_model_folder(p))

    def exists(self, name: str) -> bool:
        """Whether `name` can be found now (a hub id counts: it is fetched when used)."""
        parsed = parse_model_name(name)
        match parsed.kind:
            case NameKind.lora:
                return self.exists(parsed.location) and Path(parsed.lora).expanduser().is_file()
            case NameKind.preset:
                return self.presets.find(parsed.location) is not None
            case NameKind.hub:
                return True
            case NameKind.embedded:
                return parsed.location in self.embedded_models()
            case NameKind.file:
                return True
            case NameKind.folder:
                return is_model_folder(Path(parsed.location))
        return False

    def folder_of(self, name: str) -> Path:
        """Where a plain name's files are: the shipped folder of an embedded name, else the
        path as written."""
        location = parse_model_name(name).location or name
        return self.models_root / location if is_embedded_name(location) else Path(location)

    def role(self, name: str) -> ModelRole:
        """Teacher or student, as the preset, the LoRA or the model's folder says."""
        if parse_model_name(name).is_student_name:
            return ModelRole.student
        return folder_role(self.folder_of(name))

    def facts(self, name: str, vocabulary: EmojiVocabulary | None = None) -> ModelFacts:
        """What can be told of the model `name` without loading it."""
        return model_facts(
            name, models_root=self.models_root, presets=lambda: self.presets, vocabulary=vocabulary
        )


def display_name(name: str) -> str:
    """How a model name is shown: an embedded name as it is; a folder or file by its last part,
    with a config choice; a LoRA student as its teacher + the LoRA file; a preset by its name."""
    parsed = parse_model_name(name)
    match parsed.kind:
        case NameKind.lora:
            return f"{display_name(parsed.location)} + {Path(parsed.lora).name}"
        case NameKind.embedded | NameKind.preset | NameKind.empty:
            return parsed.text
        case NameKind.hub:
            return Path(parsed.text).name
    shown = Path(parsed.location).name or parsed.location
    return f"{shown} ({parsed.config})" if parsed.config else shown
