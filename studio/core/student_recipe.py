"""The recipe a student folder says it is sampled with: a shortcut model's, or its manifest's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from studio.core.manifest import read_manifest
from studio.core.shortcut import SHORTCUT_SAMPLER, is_shortcut_folder

SHORTCUT_DEFAULT_STEPS = 4


@dataclass(frozen=True, slots=True)
class OwnRecipe:
    """A student's own sampler, step count, CFG and eta."""

    sampler: str
    steps: int
    guidance: float
    eta: float = 0.0


def own_recipe(folder: Path) -> OwnRecipe | None:
    """What the folder's training record or adapter manifest names; None when it names none."""
    if is_shortcut_folder(folder):
        return OwnRecipe(SHORTCUT_SAMPLER, SHORTCUT_DEFAULT_STEPS, 1.0)
    manifest = read_manifest(folder)
    if manifest is None:
        return None
    return OwnRecipe(
        manifest.sampler, manifest.num_inference_steps, manifest.guidance_scale, manifest.eta
    )
