"""Analytic-DPM on the embedded teacher: the optimal reverse variance against the fixed one.

For each step count, the teacher samples the fixed evaluation prompts (their seeds, CFG 3)
with DDPM and "DDPM (analytic variance)", DDIM eta 1 and "DDIM eta + analytic variance" at
eta 1, and (the paper's Analytic-DDIM) DDIM eta 0 and its analytic twin at eta 0; each set is
scored by the subgroup classifier's accuracy and the Fréchet distance of its features to the
dataset's, as `studio eval` does. The Gamma table is read from the cache, or estimated first
(timed separately). Run: `python -m benchmarks.analytic_variance --limit 48 [--steps 10,25]`.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import machine
from studio.core.models import ModelRef
from studio.engine.analytic.estimate import EstimateOptions
from studio.engine.analytic.tables import GammaTables
from studio.engine.model_cache import ModelCache
from studio.engine.runner import Runner
from studio.lab.analytic_job import TaskBars
from studio.lab.classifier import Classifier
from studio.lab.emoji_data import build_dataset, load_dataset
from studio.lab.evaluate import Recipe, classifier_dir, eval_items, evaluate

TEACHER = "emoji-teacher"
GUIDANCE = 3.0
PAIRS = {
    "ddpm": (("DDPM", 0.0), ("DDPM (analytic variance)", 0.0)),
    "ddim1": (("DDIM", 1.0), ("DDIM eta + analytic variance", 1.0)),
    "ddim0": (("DDIM", 0.0), ("DDIM eta + analytic variance", 0.0)),
}


@dataclass(frozen=True, slots=True)
class Row:
    """One sampler at one step count, scored on the evaluation prompts."""

    steps: int
    sampler: str
    eta: float
    accuracy: float
    frechet: float
    seconds_per_image: float
    blank: int


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=48, help="first N evaluation prompts")
    parser.add_argument("--steps", default="10,25", help="comma-separated step counts")
    parser.add_argument("--pairs", default=",".join(PAIRS), help="which of " + ", ".join(PAIRS))
    parser.add_argument("--samples", type=int, default=128, help="Gamma table samples")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    return parser.parse_args()


def table_seconds(runner: Runner, ref: ModelRef) -> tuple[float, str]:
    """Seconds spent getting the teacher's Gamma table (0 when cached) and its data source."""
    loaded, _ = runner.models.get(ref)
    bars = TaskBars(enabled=True)
    started = time.perf_counter()
    try:
        table = runner.gamma_tables.table_for(loaded, bars)
    finally:
        bars.close()
    return time.perf_counter() - started, f"{table.source}, {table.samples} samples"


@dataclass(frozen=True, slots=True)
class Bench:
    """The runner, the teacher and what scoring needs: prompts, classifier, data features."""

    runner: Runner
    ref: ModelRef
    items: list
    classifier: Classifier
    data_features: np.ndarray

    def score(self, steps: int, sampler: str, eta: float) -> Row:
        recipe = Recipe(sampler=sampler, steps=steps, guidance=GUIDANCE, eta=eta)
        report, images = evaluate(
            self.runner, self.ref, recipe, self.items, self.classifier, self.data_features
        )
        blank = int(sum(not image.any() for image in images))
        accuracy, frechet = report.subgroup_accuracy, report.frechet_distance
        return Row(steps, sampler, eta, accuracy, frechet, report.seconds_per_image, blank)


def setup(args: argparse.Namespace) -> Bench:
    data = load_dataset(build_dataset(progress=False))
    classifier = Classifier.load(classifier_dir())
    _, data_features = classifier.predict(data.images)
    tables = GammaTables(options=EstimateOptions(samples=args.samples))
    runner = Runner(ModelCache(capacity=1), gamma_tables=tables)
    items = eval_items(data)[: args.limit]
    return Bench(runner, ModelRef.embedded(TEACHER), items, classifier, data_features)


def measure(args: argparse.Namespace) -> tuple[list[Row], str]:
    bench = setup(args)
    seconds, source = table_seconds(bench.runner, bench.ref)
    note = f"Gamma table: {source}; {seconds:.1f} s to obtain ({len(bench.items)} prompts)"
    rows = []
    for steps in [int(s) for s in args.steps.split(",")]:
        for pair in [PAIRS[name.strip()] for name in args.pairs.split(",")]:
            for sampler, eta in pair:
                rows.append(bench.score(steps, sampler, eta))
                print(markdown([rows[-1]]).splitlines()[-1], flush=True)
    return rows, note


def markdown(rows: list[Row]) -> str:
    lines = [
        "| steps | sampler | eta | subgroup accuracy | FD | s / image | blank images |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.steps} | {r.sampler} | {r.eta:g} | {r.accuracy:.1%} | {r.frechet:.1f} | "
            f"{r.seconds_per_image:.3f} | {r.blank} |"
        )
    return "\n".join(lines)


def main() -> None:
    args = _args()
    torch.set_num_threads(args.threads)
    rows, note = measure(args)
    print(f"\n{machine()}\n{note}\n\n{markdown(rows)}")
    if args.json:
        args.json.write_text(json.dumps([_as_dict(r) for r in rows], indent=2) + "\n")


def _as_dict(row: Row) -> dict:
    return {name: getattr(row, name) for name in Row.__slots__}


if __name__ == "__main__":
    main()
