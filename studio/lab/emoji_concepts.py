"""Emoji concepts and their captions: what Unicode's emoji-test.txt names (code points, name,
group, subgroup) and how a training caption is written from it ("name, group, subgroup, style").

The embedded models' vocabulary rule at inference time lives in `studio.core.emoji_vocabulary`;
this module is the dataset's side: parsing the Unicode file and writing the captions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SOURCES = ("noto", "twemoji")
STYLES = {"noto": "noto style", "twemoji": "twemoji style"}
STYLE_SUFFIX = " style"
SKIN_TONES = range(0x1F3FB, 0x1F400)
_ENTRY = re.compile(
    r"^(?P<cps>[0-9A-Fa-f]+(?: [0-9A-Fa-f]+)*)\s*;\s*(?P<status>[a-z-]+)\s*#\s*\S+\s+"
    r"(?:E\d+\.\d+\s+)?(?P<name>.+?)\s*$"
)


@dataclass(frozen=True)
class EmojiConcept:
    """One fully-qualified emoji from emoji-test.txt: its code points and its labels."""

    codepoints: tuple[int, ...]
    name: str
    group: str
    subgroup: str

    @property
    def text(self) -> str:
        return "".join(map(chr, self.codepoints))

    @property
    def prompt(self) -> str:
        return make_prompt(self.name, self.group, self.subgroup)


def normalize_label(label: str) -> str:
    """Lowercase a group or subgroup name and turn '-' into spaces ('&' is kept)."""
    return " ".join(label.lower().replace("-", " ").split())


def make_prompt(name: str, group: str, subgroup: str) -> str:
    """``"{name}, {group}, {subgroup}"`` in caption form, without a style."""
    return f"{name.strip().lower()}, {normalize_label(group)}, {normalize_label(subgroup)}"


def make_caption(name: str, group: str, subgroup: str, style: str) -> str:
    """A training caption; ``style`` is a source ("noto") or its phrase ("noto style")."""
    return f"{make_prompt(name, group, subgroup)}, {style_phrase(style)}"


def style_phrase(style: str) -> str:
    """The caption phrase of a source or style: "noto" and "noto style" give "noto style"."""
    style = style.strip().lower()
    return style if style.endswith(STYLE_SUFFIX) else STYLES.get(style, style + STYLE_SUFFIX)


def subgroup_of_prompt(prompt: str, vocab: Sequence[str]) -> int | None:
    """The index in ``vocab`` of the subgroup named by a caption or prompt, or None.

    Emoji names may themselves contain commas ("family: man, woman, boy"), so the subgroup
    is read from the right: the last field, or the one before it when that is a style.
    """
    fields = [part.strip() for part in prompt.lower().split(",")]
    if len(fields) > 1 and fields[-1].endswith(STYLE_SUFFIX):
        fields.pop()
    if len(fields) < 3:
        return None
    index = {normalize_label(label): i for i, label in enumerate(vocab)}
    return index.get(normalize_label(fields[-1]))


def parse_emoji_test(lines: Iterable[str], include_skin_tones: bool = False) -> list[EmojiConcept]:
    """The fully-qualified, non-component emoji of emoji-test.txt, in file order."""
    group = subgroup = ""
    concepts: list[EmojiConcept] = []
    for raw in lines:
        line = raw.strip()
        if line.startswith("# group:"):
            group = line.partition(":")[2].strip()
        elif line.startswith("# subgroup:"):
            subgroup = line.partition(":")[2].strip()
        elif (concept := _parse_entry(line, group, subgroup)) and (
            include_skin_tones or not _has_skin_tone(concept.codepoints)
        ):
            concepts.append(concept)
    return concepts


def _parse_entry(line: str, group: str, subgroup: str) -> EmojiConcept | None:
    match = _ENTRY.match(line)
    if not match or match["status"] != "fully-qualified" or group.lower() == "component":
        return None
    codepoints = tuple(int(cp, 16) for cp in match["cps"].split())
    return EmojiConcept(codepoints, match["name"], group, subgroup)


def _has_skin_tone(codepoints: Sequence[int]) -> bool:
    return any(cp in SKIN_TONES for cp in codepoints)


def read_emoji_test_header(lines: Iterable[str]) -> dict[str, str]:
    """The ``# Version:`` and ``# Date:`` values of an emoji-test.txt header."""
    header: dict[str, str] = {}
    for line in lines:
        if not line.startswith("#"):
            break
        key, sep, value = line[1:].partition(":")
        if sep and key.strip() in ("Version", "Date"):
            header[key.strip().lower()] = value.strip()
    return header


def load_concepts(emoji_test: Path, include_skin_tones: bool = False) -> list[EmojiConcept]:
    """Parse an emoji-test.txt file into concepts."""
    lines = emoji_test.read_text(encoding="utf-8").splitlines()
    return parse_emoji_test(lines, include_skin_tones)
