"""The model-name grammar: what a model name, as the CLI, the window and saved images write it,
names. One parser, so that every reader agrees.

- `preset:<name>`: the student of a model-pair preset (shipped or the user's);
- `<teacher>#lora=<file>`: a LoRA file on a teacher, itself any plain name;
- `<path>[#config=<config>]`: a diffusers folder, or a single-file checkpoint with the configs
  its components are built from (a shipped config name or a config folder);
- `<name>`: a model shipped in the models folder (no separator, no leading dot);
- `<org>/<name>`: a Hugging Face hub id, when no such local path exists.

Parsing looks at the disk only to tell a folder from a file from neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from studio.core.lora_students import split_lora_student
from studio.core.model_library import split_model_name
from studio.core.model_presets import preset_name_of
from studio.core.student_refs import is_hub_id


class NameKind(StrEnum):
    """What a model name names."""

    empty = "empty"
    preset = "preset"
    lora = "lora"
    folder = "folder"
    file = "file"
    embedded = "embedded"
    hub = "hub"
    missing = "missing"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelName:
    """One parsed model name.

    `location` is the preset's name (preset), the teacher's name (lora), the resolved path
    (folder, file), the embedded name, the hub id, or the path as written (missing); `config`
    is a single file's config choice and `lora` a LoRA student's adapter file as written.
    """

    kind: NameKind
    text: str
    location: str = ""
    config: str = ""
    lora: str = ""

    @property
    def is_student_name(self) -> bool:
        """A preset's or a LoRA's student: a student by how it is written."""
        return self.kind in (NameKind.preset, NameKind.lora)


def is_embedded_name(location: str) -> bool:
    """Whether `location` has the form of a shipped model's name: no separator, no leading dot."""
    return bool(location) and not any(mark in location for mark in "/\\") and location[0] != "."


def parse_model_name(name: str) -> ModelName:
    """The parts of a model name (see the module's grammar); never raises."""
    text = name.strip() if isinstance(name, str) else ""
    if not text:
        return ModelName(kind=NameKind.empty, text="")
    preset = preset_name_of(text)
    if preset is not None:
        return ModelName(kind=NameKind.preset, text=text, location=preset)
    lora = split_lora_student(text)
    if lora is not None:
        return ModelName(kind=NameKind.lora, text=text, location=lora[0], lora=lora[1])
    location, config = split_model_name(text)
    path = Path(location).expanduser()
    if path.is_dir():
        return ModelName(kind=NameKind.folder, text=text, location=str(path.resolve()))
    if path.is_file():
        resolved = str(path.resolve())
        return ModelName(kind=NameKind.file, text=text, location=resolved, config=config)
    if is_embedded_name(text):
        return ModelName(kind=NameKind.embedded, text=text, location=text)
    if is_hub_id(text):
        return ModelName(kind=NameKind.hub, text=text, location=text)
    return ModelName(kind=NameKind.missing, text=text, location=location, config=config)
