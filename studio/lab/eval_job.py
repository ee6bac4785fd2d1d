"""`studio eval`: the embedded models on the fixed prompt set, each with its own recipe."""

from __future__ import annotations

import numpy as np

from studio.core.manifest import read_manifest
from studio.core.models import ModelRef
from studio.engine.model_cache import ModelCache
from studio.engine.runner import Runner
from studio.lab.classifier import Classifier
from studio.lab.emoji_data import build_dataset, load_dataset
from studio.lab.evaluate import (
    EvalReport,
    Recipe,
    classifier_dir,
    eval_items,
    evaluate,
    markdown_table,
)
from studio.paths import embedded_model_dir

TEACHER_RECIPE = Recipe(sampler="DPM++ 2M", steps=20, guidance=3.0)


def recipe_for(name: str) -> Recipe:
    manifest = read_manifest(embedded_model_dir(name))
    if manifest is None:
        return TEACHER_RECIPE
    return Recipe(
        sampler=manifest.sampler,
        steps=manifest.num_inference_steps,
        guidance=manifest.guidance_scale,
        eta=manifest.eta,
    )


def installed(name: str) -> bool:
    folder = embedded_model_dir(name)
    return (folder / "model_index.json").exists() or read_manifest(folder) is not None


def evaluate_models(
    names: list[str], limit: int | None = None, recipes: dict[str, Recipe] | None = None
) -> tuple[list[EvalReport], str]:
    """Evaluate each model; the first one is the reference for PSNR/SSIM agreement."""
    data = load_dataset(build_dataset(progress=False))
    items = eval_items(data)[:limit]
    classifier = Classifier.load(classifier_dir())
    _, data_features = classifier.predict(data.images)
    runner = Runner(ModelCache(capacity=1))
    reports: list[EvalReport] = []
    reference: np.ndarray | None = None
    for name in names:
        if not installed(name):
            continue
        recipe = (recipes or {}).get(name) or recipe_for(name)
        report, images = evaluate(
            runner, ModelRef.embedded(name), recipe, items, classifier, data_features, reference
        )
        reference = images if reference is None else reference
        reports.append(report)
    return reports, markdown_table(reports)
