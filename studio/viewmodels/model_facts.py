"""The facts of the session's models, told by the session's model resolver with the embedded
models' emoji vocabulary (see `studio.core.model_kinds`)."""

from __future__ import annotations

import logging
from functools import cache

from studio.core.emoji_vocabulary import EmojiVocabulary, vocabulary_dir
from studio.core.model_kinds import ModelFacts
from studio.core.model_resolver import ModelResolver
from studio.core.paths import assets_dir

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


def known_facts(models: ModelResolver, name: str) -> ModelFacts:
    """What can be told of the model `name` without loading it."""
    return models.facts(name, emoji_vocabulary())
