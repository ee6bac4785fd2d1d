"""Model facts without torch: a model's kind, consistency distillation and emoji vocabulary, and
the recipe warnings they give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.core.emoji_vocabulary import EmojiVocabulary, vocabulary_dir
from studio.core.model_kinds import ModelFacts, misfit_sentence, model_facts, model_kind_of
from studio.core.model_presets import load_model_presets
from studio.core.params import GenerationParams
from studio.core.paths import assets_dir, presets_dir
from studio.core.recipes import recipe_warnings
from studio.core.samplers import ModelKind, find_sampler

FLOW_CONFIG = {"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0}
DDPM_CONFIG = {"_class_name": "DDPMScheduler", "prediction_type": "v_prediction"}


def pipeline(folder: Path, scheduler: dict | None) -> Path:
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "SomePipeline"}))
    if scheduler is not None:
        (folder / "scheduler").mkdir()
        (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(scheduler))
    return folder


def adapter(folder: Path, base: str, sampler: str, method: str = "") -> Path:
    folder.mkdir(parents=True)
    manifest = {
        "format": 1,
        "base": base,
        "lora": "pytorch_lora_weights.safetensors",
        "method": method,
        "recipe": {"sampler": sampler, "num_inference_steps": 4},
    }
    (folder / "studio_adapter.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A models folder like the shipped one: a teacher, an LCM student and a 4-step student."""
    models = tmp_path / "models"
    pipeline(models / "emoji-teacher", DDPM_CONFIG)
    adapter(models / "emoji-student-lcm", "emoji-teacher", "LCM", "consistency distillation")
    adapter(models / "emoji-student-4step", "emoji-teacher", "DDIM trailing", "progressive")
    return models


def presets():
    return load_model_presets(presets_dir(), None)


def facts(name: str, root: Path, **kw) -> ModelFacts:
    return model_facts(name, models_root=root, presets=presets, **kw)


def test_the_kind_rule_is_the_engines():
    assert model_kind_of(FLOW_CONFIG) is ModelKind.flow
    assert model_kind_of({"_class_name": "UniPCMultistepScheduler", "use_flow_sigmas": True}) is (
        ModelKind.flow
    )
    assert model_kind_of({"prediction_type": "flow_prediction"}) is ModelKind.flow
    assert model_kind_of(DDPM_CONFIG) is ModelKind.vp


def test_a_folder_is_told_by_its_scheduler_config(tmp_path, root):
    flow = facts(str(pipeline(tmp_path / "my-flow", FLOW_CONFIG)), root)
    assert (flow.label, flow.kind) == ("my-flow", ModelKind.flow)
    vp = facts(str(pipeline(tmp_path / "my-sd", DDPM_CONFIG)), root)
    assert vp.kind is ModelKind.vp and vp.consistency_distilled is None
    lcm = facts(str(pipeline(tmp_path / "lcm", {"_class_name": "LCMScheduler"})), root)
    assert lcm.consistency_distilled is True
    assert facts(str(pipeline(tmp_path / "bare", None)), root).kind is None


def test_embedded_models_are_vp_emoji_models(root):
    vocabulary = EmojiVocabulary(("animal mammal",), {"dog face": "animal mammal"})
    teacher = facts("emoji-teacher", root, vocabulary=vocabulary)
    assert teacher.kind is ModelKind.vp and teacher.vocabulary is vocabulary
    assert teacher.consistency_distilled is False
    assert facts("emoji-student-lcm", root).consistency_distilled is True
    assert facts("emoji-student-4step", root).consistency_distilled is False
    assert facts("emoji-student-4step", root).kind is ModelKind.vp
    assert facts("not-shipped", root) == ModelFacts(label="not-shipped")


def test_presets_and_their_teachers_are_told_by_family(root):
    turbo = facts("preset:SD-Turbo", root)
    assert (turbo.kind, turbo.consistency_distilled) == (ModelKind.vp, False)
    assert facts("preset:LCM-LoRA SD1.5", root).consistency_distilled is True
    assert facts("preset:FLUX.1-schnell", root).kind is ModelKind.flow
    assert facts("black-forest-labs/FLUX.1-dev", root).kind is ModelKind.flow
    assert facts("stabilityai/stable-diffusion-2-1-base", root).kind is ModelKind.vp
    assert facts("someone/unknown-model", root).kind is None
    assert facts("preset:No such preset", root).kind is None


def test_a_lora_student_has_its_teachers_kind_and_unknown_distillation(root):
    found = facts("emoji-teacher#lora=/loras/detail.safetensors", root)
    assert found.kind is ModelKind.vp and found.consistency_distilled is None
    assert found.label == "emoji-teacher + detail.safetensors"


def test_the_misfit_sentence_names_sampler_and_model():
    flow_euler = find_sampler("Flow Euler")
    assert flow_euler is not None
    assert misfit_sentence(flow_euler, ModelKind.vp, "emoji-teacher") == (
        "'Flow Euler' is for flow-matching models; emoji-teacher is a DDPM-family (VP) model."
    )
    assert ModelFacts().sampler_misfit("Flow Euler") == ""
    assert ModelFacts(label="m", kind=ModelKind.flow).sampler_misfit("Flow Heun") == ""


def test_the_shipped_vocabulary_knows_emoji_names_and_subgroups():
    vocabulary = EmojiVocabulary.load(vocabulary_dir(assets_dir()))
    assert vocabulary.names_something("grinning face, smileys & emotion, face smiling")
    assert vocabulary.names_something("dog face")
    assert vocabulary.names_something("animal mammal")
    assert not vocabulary.names_something("a castle at night")


# --- the warnings ------------------------------------------------------------------------------

TEACHER = ModelFacts(
    label="emoji-teacher",
    kind=ModelKind.vp,
    consistency_distilled=False,
    vocabulary=EmojiVocabulary(("animal mammal",), {"dog face": "animal mammal"}),
)


def warn(params: GenerationParams, model: ModelFacts = TEACHER) -> list[str]:
    spec = find_sampler(params.sampler)
    uses_eta = spec is not None and spec.uses_eta
    return recipe_warnings(params, guidance_distilled=False, sampler_uses_eta=uses_eta, model=model)


def test_lcm_on_a_model_not_distilled_for_it_and_at_many_steps():
    found = warn(GenerationParams(prompt="dog face", sampler="LCM", num_inference_steps=20))
    assert len(found) == 2
    assert "emoji-teacher is not one" in found[0]
    assert "use 1 to 8 steps; 20 take longer" in found[1]
    student = ModelFacts(label="emoji-student-lcm", kind=ModelKind.vp, consistency_distilled=True)
    assert warn(GenerationParams(sampler="LCM", num_inference_steps=4), student) == []
    (steps,) = warn(GenerationParams(sampler="TCD", num_inference_steps=9), student)
    assert "few-step sampler" in steps
    unknown = ModelFacts(label="x")
    assert warn(GenerationParams(sampler="LCM", num_inference_steps=8), unknown) == []


def test_a_sampler_of_another_kind_is_a_warning():
    (found,) = warn(GenerationParams(prompt="dog face", sampler="Flow Euler"))
    assert found.startswith("'Flow Euler' is for flow-matching models; emoji-teacher")


def test_a_prompt_outside_the_emoji_vocabulary():
    (found,) = warn(GenerationParams(prompt="a castle at night"))
    assert "emoji-teacher only knows emoji names" in found and "'a castle at night'" in found
    assert warn(GenerationParams(prompt="Dog Face, noto style")) == []
    assert warn(GenerationParams(prompt="   ")) == []
    assert warn(GenerationParams(prompt="a castle"), ModelFacts(label="sd")) == []
