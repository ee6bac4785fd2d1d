"""Analytic-DPM on the embedded teacher: the optimal reverse variance against the fixed one.

For each step count the teacher samples the fixed evaluation prompts (seed = prompt index,
CFG 3, `--limit` of them spread over all subgroups) in pairs that differ only in the variance of
the noise each step adds: DDPM and "DDPM (analytic variance)"; DDIM eta 1 and "DDIM eta +
analytic variance" at eta 1; DDIM eta 0 and the analytic sampler at eta 0 (the paper's
Analytic-DDIM). Each set is scored as `studio eval` does (subgroup classifier accuracy, Fréchet
distance of its features to the dataset's), and each analytic run against its baseline by the
prompts it newly gets right or wrong. The Gamma table is read from the cache, or estimated
first and timed. Run: `python -m benchmarks.analytic_variance --limit 60 [--steps 4,10,25]`.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import machine
from benchmarks.skip_tuning import PromptSet, load_prompt_set
from studio.core.models import ModelRef
from studio.core.paths import embedded_model_dir
from studio.core.settings import LaneRecipe
from studio.engine.analytic.estimate import EstimateOptions
from studio.engine.analytic.tables import GammaTables
from studio.engine.model_cache import ModelCache
from studio.engine.runner import Runner
from studio.lab.analytic_job import TaskBars
from studio.lab.evaluate import evaluate

TEACHER = "emoji-teacher"
GUIDANCE = 3.0
PAIRS = {
    "ddpm": (("DDPM", 0.0), ("DDPM (analytic variance)", 0.0)),
    "ddim1": (("DDIM", 1.0), ("DDIM eta + analytic variance", 1.0)),
    "ddim0": (("DDIM", 0.0), ("DDIM eta + analytic variance", 0.0)),
}


@dataclass(frozen=True, slots=True)
class Row:
    """One sampler at one step count, scored on the prompts; changes are against its baseline."""

    steps: int
    sampler: str
    eta: float
    accuracy: float
    frechet: float
    seconds_per_image: float
    blank: int
    newly_right: int | None = None
    newly_wrong: int | None = None


@dataclass(frozen=True, slots=True)
class Bench:
    """The runner with its Gamma tables, the teacher, and the scored prompt set."""

    runner: Runner
    ref: ModelRef
    prompts: PromptSet

    def score(self, steps: int, sampler: str, eta: float) -> tuple[Row, np.ndarray]:
        """The row of one sampler, and which prompts it got right."""
        recipe = LaneRecipe(
            sampler=sampler, num_inference_steps=steps, guidance_scale=GUIDANCE, eta=eta
        )
        p = self.prompts
        report, images = evaluate(
            self.runner, self.ref, recipe, p.items, p.classifier, p.data_features
        )
        blank = int(sum(not image.any() for image in images))
        accuracy, frechet = report.subgroup_accuracy, report.frechet_distance
        row = Row(steps, sampler, eta, accuracy, frechet, report.seconds_per_image, blank)
        return row, np.array(report.correct)

    def pair(self, steps: int, pair: tuple[tuple[str, float], ...]) -> list[Row]:
        (base_name, base_eta), (name, eta) = pair
        base, base_right = self.score(steps, base_name, base_eta)
        row, right = self.score(steps, name, eta)
        changed = {
            "newly_right": int((right & ~base_right).sum()),
            "newly_wrong": int((base_right & ~right).sum()),
        }
        return [base, Row(**{**asdict(row), **changed})]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=60, help="N prompts spread over the set")
    parser.add_argument("--steps", default="10,25", help="comma-separated step counts")
    parser.add_argument("--pairs", default=",".join(PAIRS), help="which of " + ", ".join(PAIRS))
    parser.add_argument("--samples", type=int, default=128, help="Gamma table samples")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    return parser.parse_args()


def table_note(runner: Runner, ref: ModelRef) -> str:
    """Where the teacher's Gamma table came from and the seconds spent getting it."""
    loaded, _ = runner.models.get(ref)
    bars = TaskBars(enabled=True)
    started = time.perf_counter()
    try:
        table = runner.gamma_tables.table_for(loaded, bars)
    finally:
        bars.close()
    seconds = time.perf_counter() - started
    return f"Gamma table: {table.source}, {table.samples} samples; {seconds:.1f} s to obtain"


def teacher_step() -> str:
    record = embedded_model_dir(TEACHER) / "training.json"
    return str(json.loads(record.read_text())["step"]) if record.is_file() else "unknown"


def measure(args: argparse.Namespace) -> tuple[list[Row], str]:
    tables = GammaTables(options=EstimateOptions(samples=args.samples))
    runner = Runner(ModelCache(capacity=1), gamma_tables=tables)
    bench = Bench(runner, ModelRef.embedded(TEACHER), load_prompt_set(args.limit))
    step = teacher_step()
    note = f"{TEACHER} at training step {step}, {len(bench.prompts.items)} prompts, CFG 3\n"
    note += table_note(runner, bench.ref)
    rows: list[Row] = []
    for steps in [int(s) for s in args.steps.split(",")]:
        for name in args.pairs.split(","):
            rows += bench.pair(steps, PAIRS[name.strip()])
            print("\n".join(markdown(rows[-2:]).splitlines()[2:]), flush=True)
    return rows, note


def markdown(rows: list[Row]) -> str:
    lines = [
        "| steps | sampler | eta | subgroup accuracy | newly right / wrong | FD | s / image | "
        "blank |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        changed = "–" if r.newly_right is None else f"+{r.newly_right} / -{r.newly_wrong}"
        lines.append(
            f"| {r.steps} | {r.sampler} | {r.eta:g} | {r.accuracy:.1%} | {changed} | "
            f"{r.frechet:.2f} | {r.seconds_per_image:.3f} | {r.blank} |"
        )
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    rows, note = measure(args)
    print(f"\n{machine()}\n{note}\n\n{markdown(rows)}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")


if __name__ == "__main__":
    main()
