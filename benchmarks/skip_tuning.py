"""Skip-Tuning sweep: subgroup accuracy and Fréchet distance of few-step samples per rho_bottom.

Each model (default: the embedded teacher) is loaded through the engine's normal path and
sampled through the Runner on the fixed evaluation prompt set (seed = prompt index), once per
step count and rho_bottom, with rho_top fixed. The numbers come from `studio.lab.evaluate`: the
trained subgroup classifier's accuracy and the Fréchet distance of its features to the dataset.
Run: `python -m benchmarks.skip_tuning [--limit N] [--models A B] [--markdown PATH]`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import machine
from studio.cli.args import model_ref
from studio.core.atomic import atomic_write_text
from studio.core.manifest import read_manifest
from studio.core.models import EMBEDDED_TEACHER
from studio.core.settings import LaneRecipe
from studio.core.skip_tuning import SkipTuning
from studio.engine.judge import Classifier, classifier_dir
from studio.engine.loading import resolve_folder
from studio.engine.model_cache import ModelCache
from studio.engine.runner import Runner
from studio.lab.emoji_build import build_dataset
from studio.lab.emoji_dataset import load_dataset
from studio.lab.eval_job import TEACHER_RECIPE
from studio.lab.evaluate import EvalItem, EvalReport, eval_items, evaluate

RHO_BOTTOMS = (1.0, 0.95, 0.9, 0.85, 0.8)
STEPS = (4, 10)


@dataclass(frozen=True, slots=True)
class SweepRow:
    """One model, step count and Skip-Tuning setting, measured on the prompt set."""

    model: str
    steps: int
    rho_top: float
    rho_bottom: float
    images: int
    accuracy: float
    frechet: float
    seconds_per_image: float
    psnr_to_untuned: float | None
    fixed: int = 0
    broken: int = 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=[EMBEDDED_TEACHER])
    parser.add_argument("--steps", nargs="+", type=int, default=list(STEPS))
    parser.add_argument("--rho-bottom", nargs="+", type=float, default=list(RHO_BOTTOMS))
    parser.add_argument("--rho-top", type=float, default=1.0)
    parser.add_argument("--sampler", default=None, help="default: the model's own recipe")
    parser.add_argument("--guidance", type=float, default=None, help="default: the model's")
    parser.add_argument(
        "--limit", type=int, default=None, help="N prompts spread over the set (default: all)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args(argv)


def weights_digest(folder: Path) -> str:
    """A short hash of a model folder's weights, so a row names the exact snapshot it measured."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.safetensors")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def base_recipe(folder: Path, args: argparse.Namespace) -> LaneRecipe:
    """The model's own sampler and guidance (its manifest, else the teacher's), or the flags."""
    manifest = read_manifest(folder)
    sampler = args.sampler or (manifest.sampler if manifest else TEACHER_RECIPE.sampler)
    guidance = args.guidance
    if guidance is None:
        guidance = manifest.guidance_scale if manifest else TEACHER_RECIPE.guidance_scale
    return LaneRecipe(sampler=sampler, num_inference_steps=1, guidance_scale=guidance)


@dataclass(frozen=True, slots=True)
class PromptSet:
    """The fixed evaluation prompts, the subgroup classifier and the dataset's features."""

    items: list[EvalItem]
    classifier: Classifier
    data_features: np.ndarray


def load_prompt_set(limit: int | None) -> PromptSet:
    data = load_dataset(build_dataset(progress=False))
    classifier = Classifier.load(classifier_dir())
    _, features = classifier.predict(data.images)
    return PromptSet(spread(eval_items(data), limit), classifier, features)


def spread(items: list[EvalItem], limit: int | None) -> list[EvalItem]:
    """`limit` items evenly spaced over the whole set (all subgroups, not just the first)."""
    if limit is None or limit >= len(items):
        return items
    picks = np.linspace(0, len(items) - 1, max(1, limit)).round().astype(int)
    return [items[i] for i in dict.fromkeys(picks.tolist())]


def settings_to_try(args: argparse.Namespace) -> list[SkipTuning]:
    """Skip-Tuning off first (the reference for PSNR), then each requested setting."""
    tried = [SkipTuning(rho_top=args.rho_top, rho_bottom=rho) for rho in args.rho_bottom]
    return [SkipTuning(), *(config for config in dict.fromkeys(tried) if config.enabled)]


def sweep_model(
    name: str, args: argparse.Namespace, prompts: PromptSet, snapshots: dict[str, str]
) -> list[SweepRow]:
    """Every step count and setting on one model, loaded once (later exports are not seen)."""
    ref = model_ref(name)
    folder = resolve_folder(ref)
    snapshots[ref.display_name] = weights_digest(folder)
    runner = Runner(ModelCache(capacity=1))
    runner.models.get(ref)
    base = base_recipe(folder, args)
    rows: list[SweepRow] = []
    for steps in args.steps:
        untuned: tuple[np.ndarray, np.ndarray] | None = None
        for config in settings_to_try(args):
            recipe = replace(base, num_inference_steps=steps, skip_tuning=config)
            reference = None if untuned is None else untuned[0]
            report, images = evaluate(
                runner,
                ref,
                recipe,
                prompts.items,
                prompts.classifier,
                prompts.data_features,
                reference,
            )
            correct = np.array(report.correct)
            untuned = untuned or (images, correct)
            row = row_of(ref.display_name, steps, config, report)
            rows.append(replace(row, **changed_answers(untuned[1], correct)))
            print(format_row(rows[-1]), file=sys.stderr, flush=True)
    return rows


def changed_answers(before: np.ndarray, after: np.ndarray) -> dict[str, int]:
    """How many prompts the classifier now gets right that it got wrong, and the reverse."""
    return {"fixed": int((after & ~before).sum()), "broken": int((before & ~after).sum())}


def sweep(args: argparse.Namespace) -> tuple[list[SweepRow], dict[str, str]]:
    torch.set_num_threads(args.threads)
    prompts = load_prompt_set(args.limit)
    snapshots: dict[str, str] = {}
    rows = [row for name in args.models for row in sweep_model(name, args, prompts, snapshots)]
    return rows, snapshots


def row_of(model: str, steps: int, config: SkipTuning, report: EvalReport) -> SweepRow:
    return SweepRow(
        model=model,
        steps=steps,
        rho_top=config.rho_top,
        rho_bottom=config.rho_bottom,
        images=report.images,
        accuracy=report.subgroup_accuracy,
        frechet=report.frechet_distance,
        seconds_per_image=report.seconds_per_image,
        psnr_to_untuned=report.psnr_to_teacher,
    )


def format_row(row: SweepRow) -> str:
    psnr = "—" if row.psnr_to_untuned is None else f"{row.psnr_to_untuned:.1f} dB"
    return (
        f"| {row.model} | {row.steps} | {row.rho_top:g} / {row.rho_bottom:g} | {row.images} | "
        f"{row.accuracy:.1%} | +{row.fixed} / -{row.broken} | {row.frechet:.2f} | {psnr} | "
        f"{row.seconds_per_image:.3f} |"
    )


def markdown(rows: list[SweepRow], snapshots: dict[str, str]) -> str:
    header = [
        f"Machine: {machine()}.",
        "Weights (sha256 of the folder's safetensors, first 12 digits): "
        + ", ".join(f"{name} {digest}" for name, digest in snapshots.items())
        + ".",
        "",
        "| model | steps | rho top / bottom | images | subgroup accuracy | newly right / wrong |"
        " FD | PSNR to off | s / image |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    return "\n".join(header + [format_row(row) for row in rows]) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configs = [SkipTuning(rho_top=args.rho_top, rho_bottom=rho) for rho in args.rho_bottom]
    problems = [problem for config in configs for problem in config.problems()]
    if problems:
        print(" ".join(dict.fromkeys(problems)), file=sys.stderr)
        return 2
    started = time.perf_counter()
    rows, snapshots = sweep(args)
    text = markdown(rows, snapshots)
    text += f"\nTotal time: {time.perf_counter() - started:.0f} s.\n"
    print(text)
    if args.markdown:
        atomic_write_text(args.markdown, text)
    if args.json:
        payload = {"snapshots": snapshots, "rows": [asdict(row) for row in rows]}
        atomic_write_text(args.json, json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
