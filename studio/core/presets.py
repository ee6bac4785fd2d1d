"""Named lane recipes offered by the preset picker, read from `presets/recipes.json`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.json_files import JsonFileError, read_json
from studio.core.settings import (
    LaneRecipe,
    default_student,
    default_teacher,
    recipe_from_json,
    recipe_to_json,
)
from studio.core.wording import shown

PRESETS_FILE = "recipes.json"
PRESETS_VERSION = 1
MAX_PRESETS = 200
MAX_FILE_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class RecipePreset:
    """A named lane recipe."""

    name: str
    recipe: LaneRecipe


def describe(recipe: LaneRecipe) -> str:
    """A short name for a recipe: sampler, steps, guidance, eta and Skip-Tuning."""
    steps = recipe.num_inference_steps
    step_word = "step" if steps == 1 else "steps"
    extra = f" · eta {recipe.eta:g}" if recipe.eta else ""
    if recipe.skip_tuning.enabled:
        extra += f" · skip {recipe.skip_tuning.label()}"
    return f"{recipe.sampler} · {steps} {step_word} · CFG {recipe.guidance_scale:g}{extra}"


BUILT_IN: tuple[RecipePreset, ...] = (
    RecipePreset("Teacher default · " + describe(default_teacher()), default_teacher()),
    RecipePreset("Few-step · " + describe(default_student()), default_student()),
)


def presets_from_json(data: Any, source: str) -> tuple[tuple[RecipePreset, ...], list[str]]:
    """The usable presets of parsed JSON, and one warning for each preset left out."""
    if not isinstance(data, dict) or not isinstance(data.get("presets"), list):
        return (), [f"{source} has no list of presets."]
    if data.get("version", PRESETS_VERSION) != PRESETS_VERSION:
        version = shown(data.get("version"))
        return (), [f"{source} is format version {version}; this studio reads 1."]
    found: list[RecipePreset] = []
    warnings: list[str] = []
    names: set[str] = set()
    for index, entry in enumerate(data["presets"][:MAX_PRESETS]):
        where = f"presets[{index}]"
        if not isinstance(entry, dict) or "recipe" not in entry:
            warnings.append(f"{source}: {where} is not an object with a recipe, so it is left out.")
            continue
        recipe, problems = recipe_from_json(entry["recipe"], where)
        if problems:
            warnings.append(f"{source}: {problems[0]} The preset is left out.")
            continue
        name = entry.get("name") or describe(recipe)
        if not isinstance(name, str) or name in names:
            warnings.append(f"{source}: {where} has a missing or repeated name, so it is left out.")
            continue
        names.add(name)
        found.append(RecipePreset(name, recipe))
    return tuple(found), warnings


def load_presets(folder: Path) -> tuple[tuple[RecipePreset, ...], list[str]]:
    """The presets shipped in `folder`, or the built-in ones (with a warning) when unreadable."""
    path = folder / PRESETS_FILE
    try:
        data = read_json(path, max_bytes=MAX_FILE_BYTES)
    except FileNotFoundError:
        return BUILT_IN, [f"No {PRESETS_FILE} in {folder}; the built-in presets are offered."]
    except OSError as error:
        reason = error.strerror or str(error)
        return BUILT_IN, [f"{path} could not be read ({reason}); the built-in presets are offered."]
    except JsonFileError as error:
        return BUILT_IN, [f"{path} could not be read: {error}; the built-in presets are offered."]
    presets, warnings = presets_from_json(data, str(path))
    return (presets or BUILT_IN), warnings


def presets_to_json(presets: tuple[RecipePreset, ...]) -> dict[str, Any]:
    return {
        "version": PRESETS_VERSION,
        "presets": [{"name": p.name, "recipe": recipe_to_json(p.recipe)} for p in presets],
    }
