"""Model-pair presets: the shipped `presets/model-pairs.json` and the user's own preset files.

User presets live in `<user config folder>/model-presets/*.json`; a user preset replaces the
built-in one of the same name. Reading never fails: a file that is not JSON, a preset with bad
fields, an oversized file, each is left out with a warning naming the file (and the preset).
A chosen preset becomes a teacher reference (its base), a student reference (base + adapter
+ sampling facts) and the student's recipe.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from studio.core.json_files import JsonFileError, read_json
from studio.core.models import ModelRef
from studio.core.preset_schema import ModelPreset, parse_preset
from studio.core.settings import LaneRecipe
from studio.core.student_refs import StudentRef, StudentSampling
from studio.core.wording import shown

BUILTIN_FILE = "model-pairs.json"
USER_FOLDER = "model-presets"
FORMAT_VERSION = 1
PRESET_PREFIX = "preset:"
MAX_FILE_BYTES = 1_000_000
MAX_PRESETS_PER_FILE = 500
MAX_USER_FILES = 100


class _Unreadable(ValueError):
    """A preset file that is not a JSON object; the message says why."""


@dataclass(frozen=True, slots=True)
class PresetCatalogue:
    """The usable presets, built-ins first (user overrides in their place), and the warnings."""

    presets: tuple[ModelPreset, ...]
    warnings: tuple[str, ...] = ()

    def find(self, name: str) -> ModelPreset | None:
        return next((p for p in self.presets if p.name == name), None)


def default_user_presets_dir() -> Path:
    return Path(platformdirs.user_config_dir("studio")) / USER_FOLDER


def _read_json(path: Path) -> Any:
    try:
        return read_json(path, max_bytes=MAX_FILE_BYTES)
    except JsonFileError as exc:
        raise _Unreadable(str(exc)) from None
    except OSError as exc:
        raise _Unreadable(f"it could not be read ({exc.strerror or exc})") from None


def _entries(data: Any, user: bool) -> list[Any]:
    """The preset objects of a file: a versioned list, or (user files) one preset object."""
    if isinstance(data, dict) and "presets" in data:
        if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
            version = shown(data.get("version"))
            raise _Unreadable(f"it is format version {version}; this studio reads 1")
        if not isinstance(data["presets"], list):
            raise _Unreadable("its 'presets' is not a list")
        return data["presets"][:MAX_PRESETS_PER_FILE]
    if user and isinstance(data, dict) and "name" in data:
        return [data]
    raise _Unreadable("it holds no list of presets")


def read_preset_file(path: Path, origin: str, *, user: bool) -> tuple[list[ModelPreset], list[str]]:
    """The usable presets of one file, and one warning per problem (file, preset, field)."""
    try:
        entries = _entries(_read_json(path), user)
    except _Unreadable as exc:
        return [], [f"{origin} is left out: {exc}."]
    found: list[ModelPreset] = []
    warnings: list[str] = []
    names: set[str] = set()
    for index, entry in enumerate(entries):
        preset, problems = parse_preset(entry, origin, index=index, user=user)
        warnings += problems
        if preset is None:
            continue
        if preset.name in names:
            warnings.append(f"{origin}: the name {preset.name!r} is repeated; the first is kept.")
            continue
        names.add(preset.name)
        found.append(preset)
    return found, warnings


def _user_files(folder: Path) -> tuple[list[Path], list[str]]:
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix == ".json" and p.is_file())
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        return [], [f"The user presets folder {folder} could not be read ({exc.strerror})."]
    if len(files) > MAX_USER_FILES:
        note = f"Only the first {MAX_USER_FILES} preset files in {folder} are read."
        return files[:MAX_USER_FILES], [note]
    return files, []


def load_model_presets(builtin_dir: Path, user_dir: Path | None = None) -> PresetCatalogue:
    """The shipped presets with the user's on top: same name replaces, new names are added."""
    builtin_path = Path(builtin_dir) / BUILTIN_FILE
    presets, warnings = read_preset_file(builtin_path, BUILTIN_FILE, user=False)
    by_name = {p.name: p for p in presets}
    files, notes = _user_files(Path(user_dir)) if user_dir is not None else ([], [])
    warnings += notes
    for path in files:
        found, problems = read_preset_file(path, str(path), user=True)
        warnings += problems
        by_name.update((p.name, p) for p in found)
    return PresetCatalogue(tuple(by_name.values()), tuple(warnings))


# --- from a preset to what the session runs ----------------------------------------------------


def preset_model_name(preset: ModelPreset) -> str:
    """The student's model name in the session and settings: `preset:<name>`."""
    return PRESET_PREFIX + preset.name


def preset_name_of(model_name: str) -> str | None:
    if isinstance(model_name, str) and model_name.startswith(PRESET_PREFIX):
        return model_name[len(PRESET_PREFIX) :]
    return None


def teacher_ref(preset: ModelPreset) -> ModelRef:
    return ModelRef(location=preset.base, source=preset.base_source)


def student_ref(preset: ModelPreset) -> StudentRef:
    return StudentRef(
        location=preset.student,
        source=preset.student_source,
        label=preset.name,
        adapter=preset.adapter,
        sampling=StudentSampling(
            pipeline=preset.pipeline,
            scheduler=preset.scheduler,
            scheduler_overrides=preset.scheduler_overrides,
            timesteps=preset.timesteps,
            call_kwargs=preset.call_kwargs,
        ),
    )


def student_recipe(preset: ModelPreset) -> LaneRecipe:
    return LaneRecipe.recommended_by(preset)


def describe_preset(preset: ModelPreset) -> str:
    """A few lines for a tooltip: the two models, the student's recipe and the licence."""
    adapter = preset.adapter
    if adapter is None:
        student = preset.student
    else:
        what = "LoRA" if adapter.kind == "lora" else "UNet"
        student = f"{preset.base} + {what} {adapter.location}/{adapter.file}"
    steps = f"{preset.num_inference_steps} step{'s' if preset.num_inference_steps != 1 else ''}"
    recipe = f"{preset.sampler} · {steps} · CFG {preset.guidance_scale:g}"
    if preset.timesteps:
        recipe += f" · timesteps {list(preset.timesteps)}"
    lines = [
        f"Teacher: {preset.base}",
        f"Student: {student}",
        f"{recipe} · {preset.width}×{preset.height}",
        f"Licence: {preset.licence}",
    ]
    return "\n".join(lines + ([preset.notes] if preset.notes else []))
