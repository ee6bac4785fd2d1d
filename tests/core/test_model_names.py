"""The one model-name grammar and its resolver: every form a name takes, what it resolves to,
whether it names something now, its role and how it shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.core.lora_students import lora_student_name
from studio.core.model_library import model_name
from studio.core.model_names import NameKind, is_embedded_name, parse_model_name
from studio.core.model_presets import load_model_presets
from studio.core.model_resolver import ModelResolver, display_name
from studio.core.model_roles import ModelRole
from studio.core.models import ModelSource
from studio.core.paths import presets_dir
from studio.core.pickle_permissions import PicklePermissions
from studio.core.student_refs import StudentRef

LIGHTNING = "SDXL-Lightning 4-step (LoRA)"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A models folder with a teacher and a distilled student (told by its training record)."""
    for name in ("emoji-teacher", "emoji-student-4step"):
        (tmp_path / "models" / name).mkdir(parents=True)
        (tmp_path / "models" / name / "model_index.json").write_text("{}")
    record = tmp_path / "models" / "emoji-student-4step" / "training.json"
    record.write_text(json.dumps({"teacher_step": 14000}))
    return tmp_path / "models"


@pytest.fixture
def resolver(root: Path) -> ModelResolver:
    return ModelResolver(root, load_model_presets(presets_dir(), None))


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "sd-folder"
    folder.mkdir()
    (folder / "model_index.json").write_text("{}")
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(b"x")
    pickle = tmp_path / "model.ckpt"
    pickle.write_bytes(b"x")
    lora = tmp_path / "lora.safetensors"
    lora.write_bytes(b"x")
    return {"folder": folder, "file": checkpoint, "pickle": pickle, "lora": lora}


def test_each_form_parses_to_its_kind(files):
    folder, checkpoint, lora = files["folder"], files["file"], files["lora"]
    cases = {
        "": NameKind.empty,
        "   ": NameKind.empty,
        "preset:" + LIGHTNING: NameKind.preset,
        lora_student_name(str(folder), str(lora)): NameKind.lora,
        str(folder): NameKind.folder,
        model_name(str(checkpoint), "sd21"): NameKind.file,
        "emoji-teacher": NameKind.embedded,
        "org/some-model": NameKind.hub,
        "./missing/folder": NameKind.missing,
        "/no/such/path": NameKind.missing,
    }
    for text, kind in cases.items():
        assert parse_model_name(text).kind is kind, text


def test_the_parts_of_a_name():
    parsed = parse_model_name("teacher-name#lora=/x/y.safetensors")
    assert (parsed.location, parsed.lora) == ("teacher-name", "/x/y.safetensors")
    assert parsed.is_student_name
    assert parse_model_name("preset:" + LIGHTNING).location == LIGHTNING
    assert not parse_model_name("emoji-teacher").is_student_name


def test_a_single_files_config_choice_is_kept(files):
    parsed = parse_model_name(model_name(str(files["file"]), "sd21"))
    assert (parsed.location, parsed.config) == (str(files["file"].resolve()), "sd21")


def test_embedded_names_have_no_separator_and_no_leading_dot():
    assert is_embedded_name("emoji-teacher")
    for text in ("", "a/b", "a\\b", ".hidden", "./x"):
        assert not is_embedded_name(text), text


def test_each_form_resolves_to_its_reference(resolver, files):
    assert resolver.resolve("emoji-teacher").source is ModelSource.embedded
    assert resolver.resolve(str(files["folder"])).source is ModelSource.folder
    single = resolver.resolve(model_name(str(files["file"]), "sd21"))
    assert (single.source, single.config) == (ModelSource.file, "sd21")
    hub = resolver.resolve("org/some-model")
    assert (hub.source, hub.location) == (ModelSource.hub, "org/some-model")
    preset = resolver.resolve("preset:" + LIGHTNING)
    assert isinstance(preset, StudentRef) and preset.display_name == LIGHTNING
    lora = resolver.resolve(lora_student_name(str(files["folder"]), str(files["lora"])))
    assert isinstance(lora, StudentRef) and lora.adapter is not None
    assert lora.adapter.file == files["lora"].name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Choose a model: the model name is empty."),
        ("./missing/folder", "There is no model folder or file at ./missing/folder."),
        ("preset:nope", "There is no model preset named 'nope'"),
        ("emoji-teacher#lora=/no/such.safetensors", "There is no LoRA file at /no/such"),
    ],
)
def test_a_name_that_names_nothing_is_one_sentence(resolver, text, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("(", r"\(")):
        resolver.resolve(text)


def test_a_lora_on_a_lora_student_is_refused(resolver, files):
    student = lora_student_name(str(files["folder"]), str(files["lora"]))
    name = lora_student_name(student, str(files["lora"]))
    with pytest.raises(ValueError, match="needs a plain teacher"):
        resolver.resolve(name)


def test_a_pickle_file_is_allowed_only_with_its_permission(resolver, files):
    pickle = str(files["pickle"])
    assert not resolver.resolve(pickle).allow_pickle
    allowed = PicklePermissions().allowing(files["pickle"])
    assert resolver.resolve(pickle, allowed).allow_pickle
    assert not resolver.resolve(str(files["file"]), allowed).allow_pickle


def test_resolve_all_keeps_the_references_and_the_sentences(resolver):
    refs, problems = resolver.resolve_all(["emoji-teacher", "./gone", "org/x"])
    assert [r.location for r in refs] == ["emoji-teacher", "org/x"]
    assert problems == ["There is no model folder or file at ./gone."]


def test_exists_asks_the_models_folder_the_presets_and_the_disk(resolver, files):
    assert resolver.exists("emoji-teacher")
    assert not resolver.exists("emoji-gone")
    assert resolver.exists("org/some-model")
    assert resolver.exists("preset:" + LIGHTNING) and not resolver.exists("preset:nope")
    assert resolver.exists(str(files["folder"])) and resolver.exists(str(files["file"]))
    assert not resolver.exists(str(files["folder"].parent))  # a folder with no model_index
    assert resolver.exists(lora_student_name(str(files["folder"]), str(files["lora"])))
    assert not resolver.exists(lora_student_name(str(files["folder"]), "/no/such.safetensors"))
    assert not resolver.exists("./missing")


def test_the_role_comes_from_the_folder_or_the_preset_never_the_name(resolver, root):
    assert resolver.role("emoji-student-4step") is ModelRole.student
    assert resolver.role("emoji-teacher") is ModelRole.teacher
    (root / "my-student-model").mkdir()
    (root / "my-student-model" / "model_index.json").write_text("{}")
    assert resolver.role("my-student-model") is ModelRole.teacher
    assert resolver.role("preset:" + LIGHTNING) is ModelRole.student


def test_the_embedded_models_are_the_model_folders_of_the_root(resolver, root):
    (root / "not-a-model").mkdir()
    assert resolver.embedded_models() == ["emoji-student-4step", "emoji-teacher"]
    assert ModelResolver(root / "nowhere").embedded_models() == []


def test_how_names_show(files):
    assert display_name("emoji-teacher") == "emoji-teacher"
    assert display_name("org/some-model") == "some-model"
    assert display_name(str(files["folder"])) == "sd-folder"
    assert display_name(model_name(str(files["file"]), "sd21")) == "model.safetensors (sd21)"
    lora = lora_student_name("emoji-teacher", str(files["lora"]))
    assert display_name(lora) == "emoji-teacher + lora.safetensors"


def test_the_facts_of_a_name_come_from_the_resolvers_folder(resolver):
    assert resolver.facts("emoji-teacher").label == "emoji-teacher"
    assert resolver.facts("preset:" + LIGHTNING).label == LIGHTNING
