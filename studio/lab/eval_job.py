"""`studio eval`: the embedded models on the fixed prompt set, each with its own recipe."""

from __future__ import annotations

import numpy as np

from studio.core.manifest import read_manifest
from studio.core.models import ModelRef
from studio.core.paths import embedded_model_dir
from studio.core.settings import LaneRecipe
from studio.core.student_recipe import own_recipe
from studio.engine.judge import Classifier, classifier_dir
from studio.engine.model_cache import ModelCache
from studio.engine.prompt_cache import PromptCache
from studio.engine.runner import Runner
from studio.lab.emoji_build import build_dataset
from studio.lab.emoji_dataset import load_dataset
from studio.lab.evaluate import (
    BatchRunner,
    EvalReport,
    check_pairable,
    eval_items,
    evaluate,
    markdown_table,
    with_noises,
)

TEACHER_RECIPE = LaneRecipe(sampler="DPM++ 2M", num_inference_steps=20, guidance_scale=3.0)


def recipe_for(name: str) -> LaneRecipe:
    return own_recipe(embedded_model_dir(name)) or TEACHER_RECIPE


def parse_entry(text: str) -> tuple[str, LaneRecipe | None]:
    """`NAME` (its own recipe) or `NAME@SAMPLER/STEPS[/CFG[/CLASSIFIER SCALE]]`."""
    name, _, recipe = text.strip().partition("@")
    if not recipe:
        return name, None
    parts = recipe.split("/")
    if not 2 <= len(parts) <= 4:
        raise ValueError(f"{text!r}: write NAME@SAMPLER/STEPS[/CFG[/CLASSIFIER SCALE]].")
    try:
        steps = int(parts[1])
        guidance = float(parts[2]) if len(parts) > 2 else recipe_for(name).guidance_scale
        scale = float(parts[3]) if len(parts) > 3 else 0.0
    except ValueError as exc:
        raise ValueError(f"{text!r}: steps, CFG and classifier scale are numbers.") from exc
    return name, LaneRecipe(
        sampler=parts[0],
        num_inference_steps=steps,
        guidance_scale=guidance,
        classifier_scale=scale,
    )


def eval_runner(prompts: int) -> Runner:
    """A runner for one eval: one model loaded at a time, and room for every prompt's
    encodings with and without guidance, so the models sharing a text encoder (all the
    embedded ones) encode each prompt once in the whole eval, not once per model."""
    return Runner(ModelCache(capacity=1), prompt_cache=PromptCache(capacity=2 * prompts))


def installed(name: str) -> bool:
    folder = embedded_model_dir(name)
    return (folder / "model_index.json").exists() or read_manifest(folder) is not None


def evaluate_models(
    names: list[str],
    limit: int | None = None,
    recipes: dict[str, LaneRecipe] | None = None,
    batch: BatchRunner | None = None,
    noises: int = 1,
    paired_with: EvalReport | None = None,
) -> tuple[list[EvalReport], str]:
    """Evaluate each model (a name, or `parse_entry`'s NAME@RECIPE) on the first `limit`
    prompts, each from `noises` starting noises; the first model is the reference for PSNR/SSIM
    agreement, and for the paired accuracy gap unless `paired_with` (a saved row of the same
    items, `saved_report`) is given, which then heads the table. The images come from `batch`
    (a served engine's replicas, all prompts at once) when given, else from a runner here; the
    recipes and the judging are always this machine's."""
    with_noises([], noises, 0)  # a bad count is refused before any work
    data = load_dataset(build_dataset(progress=False))
    every = eval_items(data)
    items = with_noises(every[:limit], noises, len(every))
    check_pairable(paired_with, items)
    classifier = Classifier.load(classifier_dir())
    _, data_features = classifier.predict(data.images)
    runner = batch or eval_runner(len(items) // noises)
    reports: list[EvalReport] = []
    reference: np.ndarray | None = None
    for entry in names:
        name, given = parse_entry(entry)
        if not installed(name):
            continue
        recipe = given or (recipes or {}).get(name) or recipe_for(name)
        report, images = evaluate(
            runner,
            ModelRef.embedded(name),
            recipe,
            items,
            classifier,
            data_features,
            reference,
            paired_with or (reports[0] if reports else None),
        )
        reference = images if reference is None else reference
        reports.append(report)
    return reports, markdown_table(([paired_with] if paired_with else []) + reports)
