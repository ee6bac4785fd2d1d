"""What the embedded emoji models can be asked for: Unicode subgroups and emoji names.

The embedded models were trained on captions "<emoji name>, <group>, <subgroup>, <style>", so a
prompt that names neither a known emoji nor a subgroup gives them nothing to draw. The same
rule picks the subgroup that classifier guidance steers toward (`studio.engine.
classifier_guidance`), so the window's warning and the engine's notice always agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from studio.core.json_files import read_json

CLASSIFIER_NAME = "emoji-noisy-subgroup"
MAX_FILE_BYTES = 1_000_000


def vocabulary_dir(assets: Path) -> Path:
    """The folder of the guidance classifier, which holds the vocabulary, under `assets`."""
    return Path(assets) / "guidance" / CLASSIFIER_NAME


@dataclass(frozen=True, slots=True, eq=False)
class EmojiVocabulary:
    """The subgroups (in the classifier's order) and each known emoji name's subgroup."""

    subgroups: tuple[str, ...]
    names: Mapping[str, str]

    @classmethod
    def load(cls, folder: Path) -> EmojiVocabulary:
        """Read `vocab.json` and `names.json`; OSError or ValueError when they cannot be used."""
        subgroups = read_json(Path(folder) / "vocab.json", max_bytes=MAX_FILE_BYTES)
        names = read_json(Path(folder) / "names.json", max_bytes=MAX_FILE_BYTES)
        if not (isinstance(subgroups, list) and all(isinstance(s, str) for s in subgroups)):
            raise ValueError(f"{folder}/vocab.json is not a list of subgroup names")
        if not (isinstance(names, dict) and all(isinstance(s, str) for s in names.values())):
            raise ValueError(f"{folder}/names.json is not an object of emoji names")
        return cls(tuple(subgroups), MappingProxyType(dict(names)))

    def subgroup_of(self, prompt: str) -> int | None:
        """The subgroup a prompt names: one of its comma-separated fields is a subgroup, or
        a field is a known emoji's name; None when neither."""
        fields = [f.strip().lower() for f in re.split(r",", prompt) if f.strip()]
        index = {name: i for i, name in enumerate(self.subgroups)}
        for field in fields:
            if field in index:
                return index[field]
        for field in fields:
            if field in self.names and self.names[field] in index:
                return index[self.names[field]]
        return None

    def names_something(self, prompt: str) -> bool:
        """Whether `prompt` names a known emoji or subgroup (see `subgroup_of`)."""
        return self.subgroup_of(prompt) is not None


def no_subgroup_message(prompt: str) -> str:
    """The engine's notice when classifier guidance finds nothing to steer toward."""
    return (
        f"Classifier guidance is off for {prompt[:60]!r}: it names no known emoji or Unicode "
        "subgroup (write e.g. 'dog face' or 'animal mammal' in the prompt)."
    )


def out_of_vocabulary_message(prompt: str, model: str) -> str:
    """The window's warning when an embedded emoji model is given a prompt it cannot draw."""
    return (
        f"{model} only knows emoji names, such as 'grinning face' or 'dog face': "
        f"{prompt[:60]!r} names none, so expect stripes and blobs. Try the welcome's prompt, or "
        "an emoji name with its group and style."
    )
