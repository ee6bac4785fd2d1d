"""Classifier guidance: the gradient pushes the prediction toward the class (toy), the prompt
names the subgroup or guidance is off with a notice, and the runner guides emoji models only."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from studio.core.events import LaneFinished
from studio.core.jobs import GenerateJob, LaneSpec, PreviewOptions
from studio.core.metadata import format_parameters, parse_parameters
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams, ValidationError, validate
from studio.engine.cancel import CancelToken
from studio.engine.classifier_guidance import (
    ClassifierGuide,
    GuidanceClassifier,
    GuidanceUnavailable,
    NoisyClassifierNet,
    corrected,
    guidance_gradient,
    signal_coefficients,
)
from studio.engine.model_cache import ModelCache
from studio.engine.runner import Runner
from tests.engine.test_analytic_tables import Collector
from tests.engine.tiny import save_tiny_emoji_pipeline, save_tiny_sd_pipeline

VOCAB = ("animal mammal", "heart", "food prepared")


class MeanClassifier(nn.Module):
    """Toy: class 0 is 'bright' (logit = k * mean(x)), class 1 'dark'."""

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([4 * m, -4 * m], dim=1)


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
def test_guidance_moves_the_clean_estimate_toward_the_class(prediction):
    torch.manual_seed(0)
    x = torch.randn(2, 12, 4, 4)
    out = torch.randn(2, 12, 4, 4)
    t = torch.tensor([300.0, 600.0])
    abar = torch.linspace(0.9999, 0.0, 1000)
    a, s = signal_coefficients(abar, t)
    grad = guidance_gradient(MeanClassifier(), x, t, torch.zeros(2, dtype=torch.long))
    assert (grad > 0).all()

    def x0(o: torch.Tensor) -> torch.Tensor:
        ar, sr = a.reshape(-1, 1, 1, 1), s.reshape(-1, 1, 1, 1)
        return (x - sr * o) / ar if prediction == "epsilon" else ar * x - sr * o

    toward = corrected(out, grad, a, s, 2.0, prediction)
    assert (x0(toward).mean(dim=(1, 2, 3)) > x0(out).mean(dim=(1, 2, 3))).all()
    away = guidance_gradient(MeanClassifier(), x, t, torch.ones(2, dtype=torch.long))
    assert (x0(corrected(out, away, a, s, 2.0, prediction)) < x0(out)).all()


def test_no_correction_at_zero_signal_of_a_v_model():
    grad = torch.ones(1, 3, 2, 2)
    out = torch.randn(1, 3, 2, 2)
    fixed = corrected(out, grad, torch.zeros(1), torch.ones(1), 5.0, "v_prediction")
    assert torch.equal(fixed, out)


def write_classifier(folder):
    folder.mkdir(parents=True)
    torch.manual_seed(3)
    net = NoisyClassifierNet(len(VOCAB))
    save_file(
        {k: v.contiguous() for k, v in net.state_dict().items()}, folder / "classifier.safetensors"
    )
    (folder / "vocab.json").write_text(json.dumps(list(VOCAB)))
    (folder / "names.json").write_text(json.dumps({"dog face": "animal mammal"}))
    return folder


def test_the_subgroup_comes_from_a_caption_field_or_an_emoji_name(tmp_path):
    found = GuidanceClassifier.load(write_classifier(tmp_path / "c"))
    assert found.subgroup_of("pizza, food & drink, food prepared, noto style") == 2
    assert found.subgroup_of("Dog Face in the snow, twemoji style") is None
    assert found.subgroup_of("dog face, twemoji style") == 0
    assert found.subgroup_of("a castle at dusk") is None


def test_scale_is_validated_and_kept_in_png_metadata():
    with pytest.raises(ValidationError, match="classifier guidance scale"):
        validate(GenerationParams(prompt="x", classifier_scale=-1.0))
    params = GenerationParams(prompt="dog face", classifier_scale=2.5)
    parsed = parse_parameters(format_parameters(params))
    assert parsed.params.classifier_scale == 2.5
    assert "Classifier scale" not in format_parameters(GenerationParams(prompt="x"))


@pytest.fixture(scope="module")
def refs(tmp_path_factory) -> dict[str, ModelRef]:
    root = tmp_path_factory.mktemp("guided-models")
    folders = {
        "emoji": save_tiny_emoji_pipeline(root / "tiny-emoji"),
        "sd": save_tiny_sd_pipeline(root / "tiny-sd"),
    }
    return {k: ModelRef(location=str(v), source=ModelSource.folder) for k, v in folders.items()}


def run(runner: Runner, ref: ModelRef, prompt: str, scale: float, size: int = 32):
    params = GenerationParams(
        prompt=prompt,
        sampler="DDIM trailing",
        num_inference_steps=3,
        guidance_scale=2.0,
        classifier_scale=scale,
        width=size,
        height=size,
        seed=4,
    )
    sink = Collector()
    job = GenerateJob(lane=LaneSpec(model=ref, params=params), previews=PreviewOptions(every=0))
    runner.run(job, CancelToken(), sink)
    return sink.of(LaneFinished)[0]


def test_runner_guides_emoji_models_and_says_when_it_cannot(tmp_path, refs):
    guide = ClassifierGuide(write_classifier(tmp_path / "c"))
    runner = Runner(ModelCache(), classifier_guide=guide)
    plain = run(runner, refs["emoji"], "dog face, noto style", 0.0)
    guided = run(runner, refs["emoji"], "dog face, noto style", 50.0)
    assert not np.array_equal(plain.images[0], guided.images[0]) and not guided.notice
    unknown = run(runner, refs["emoji"], "a castle at dusk", 50.0)
    assert "names no known emoji" in unknown.notice
    assert np.array_equal(
        unknown.images[0], run(runner, refs["emoji"], "a castle at dusk", 0).images[0]
    )
    with pytest.raises(GuidanceUnavailable, match="embedded emoji models only"):
        run(runner, refs["sd"], "dog face", 1.0, size=64)


def test_a_missing_classifier_is_named(tmp_path, refs):
    runner = Runner(ModelCache(), classifier_guide=ClassifierGuide(tmp_path / "nowhere"))
    with pytest.raises(GuidanceUnavailable, match="studio guidance-classifier"):
        run(runner, refs["emoji"], "dog face", 1.0)
