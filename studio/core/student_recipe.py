"""The recipe a student folder says it is sampled with: a shortcut model's, or its manifest's."""

from __future__ import annotations

from pathlib import Path

from studio.core.manifest import read_manifest
from studio.core.settings import LaneRecipe
from studio.core.shortcut import SHORTCUT_SAMPLER, is_shortcut_folder

SHORTCUT_RECIPE = LaneRecipe(sampler=SHORTCUT_SAMPLER, num_inference_steps=4, guidance_scale=1.0)


def own_recipe(folder: Path) -> LaneRecipe | None:
    """What the folder's training record or adapter manifest names; None when it names none."""
    if is_shortcut_folder(folder):
        return SHORTCUT_RECIPE
    manifest = read_manifest(folder)
    return None if manifest is None else LaneRecipe.recommended_by(manifest)
