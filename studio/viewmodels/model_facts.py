"""The facts of the session's models, read from the shipped models folder, the preset catalogue
and the embedded models' emoji vocabulary (see `studio.core.model_kinds`)."""

from __future__ import annotations

import logging
from functools import cache

from studio.core.emoji_vocabulary import EmojiVocabulary, vocabulary_dir
from studio.core.model_kinds import ModelFacts, model_facts
from studio.core.paths import assets_dir, models_dir
from studio.viewmodels.model_presets import preset_catalogue

log = logging.getLogger(__name__)


@cache
def emoji_vocabulary() -> EmojiVocabulary | None:
    """The embedded emoji models' vocabulary, read once; None (logged) when it is missing."""
    folder = vocabulary_dir(assets_dir())
    try:
        return EmojiVocabulary.load(folder)
    except (OSError, ValueError) as exc:
        log.warning("The emoji vocabulary in %s could not be read: %s", folder, exc)
        return None


def known_facts(name: str) -> ModelFacts:
    """What can be told of the model `name` without loading it."""
    return model_facts(
        name, models_root=models_dir(), presets=preset_catalogue, vocabulary=emoji_vocabulary()
    )
