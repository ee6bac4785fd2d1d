"""The recipe presets the lane panels offer: `presets/recipes.json`, read once."""

from __future__ import annotations

import logging
from functools import cache

from studio.core.paths import presets_dir
from studio.core.presets import RecipePreset, load_presets

log = logging.getLogger(__name__)


@cache
def shipped_presets() -> tuple[RecipePreset, ...]:
    """The presets of `presets/recipes.json`, read once; problems go to the log."""
    presets, warnings = load_presets(presets_dir())
    for warning in warnings:
        log.warning(warning)
    return presets
