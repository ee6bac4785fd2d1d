"""Evaluating emoji models: subgroup accuracy, Fréchet distance, agreement with the teacher.

The prompt set is fixed and documented: for every Unicode subgroup, its first two concepts in
emoji-test.txt order, each in both styles, as full captions ("name, group, subgroup, style"),
with seed = the prompt's index. Images are generated through the engine's Runner, exactly
as the studio makes them. A tighter measurement draws more starting noises per prompt
(`with_noises`): noise k of prompt i has seed i + k × (the set's size), so noise 0 is the
fixed set itself and no two images share a seed.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from studio.core.events import LaneFinished
from studio.core.jobs import GenerateJob, LaneSpec, PreviewOptions
from studio.core.metrics import psnr, ssim
from studio.core.models import ModelRef
from studio.core.settings import LaneRecipe, SharedParams
from studio.engine.judge import Classifier
from studio.lab.classifier import frechet_distance
from studio.lab.emoji_dataset import EmojiDataset

PER_SUBGROUP = 2


@dataclass(frozen=True, slots=True)
class EvalItem:
    """One prompt of the fixed evaluation set."""

    prompt: str
    subgroup_id: int
    seed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalReport:
    """Measured quality and speed of one model and recipe on the evaluation set. The standard
    errors treat prompts, not images, as the independent draws (a prompt's noises share its
    difficulty); the gap to the first model is paired, image by image, on the same prompts and
    noises, so it is known more tightly than either accuracy."""

    model: str
    recipe: str
    images: int
    subgroup_accuracy: float
    frechet_distance: float
    seconds_per_image: float
    psnr_to_teacher: float | None = None
    ssim_to_teacher: float | None = None
    accuracy_se: float | None = None
    gap_to_first: float | None = None
    gap_se: float | None = None
    noises: int | None = None
    correct: tuple[bool, ...] = field(default=(), repr=False)

    def as_dict(self) -> dict:
        values = asdict(self)
        del values["correct"]
        return values


def right_or_wrong(correct: tuple[bool, ...]) -> str:
    """Each image's verdict as one character, 1 right and 0 wrong, in item order."""
    return "".join("1" if c else "0" for c in correct)


def saved_report(path: Path, row: int = 0) -> EvalReport:
    """Row `row` of a `studio eval --json` file with its verdicts, to pair new rows with: its
    recipe names the file, so that a table shows where the row came from."""
    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not a readable `studio eval --json` file: {exc}") from exc
    if not isinstance(rows, list) or not 0 <= row < len(rows) or not isinstance(rows[row], dict):
        count = len(rows) if isinstance(rows, list) else 0
        raise ValueError(f"{path} has no row {row} (rows 0 to {count - 1}).")
    saved = rows[row]
    verdicts = saved.get("correct")
    if not isinstance(verdicts, str) or not verdicts or set(verdicts) - {"0", "1"}:
        raise ValueError(f"{path}, row {row}: no verdicts (not written by `studio eval --json`).")
    try:
        accuracy = float(saved["subgroup_accuracy"])
        report = EvalReport(
            model=str(saved["model"]),
            recipe=f"{saved['recipe']} (saved: {Path(path).name}, row {row})",
            images=len(verdicts),
            subgroup_accuracy=accuracy,
            frechet_distance=float(saved["frechet_distance"]),
            seconds_per_image=float(saved["seconds_per_image"]),
            accuracy_se=saved.get("accuracy_se"),
            noises=saved.get("noises"),
            correct=tuple(c == "1" for c in verdicts),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}, row {row}: {exc!r} missing or not a number.") from exc
    judged = verdicts.count("1") / len(verdicts)
    if abs(accuracy - judged) > 1e-9:
        raise ValueError(
            f"{path}, row {row}: its accuracy ({100 * accuracy:.1f}%) is not its verdicts' "
            f"({100 * judged:.1f}%): an edited row."
        )
    return report


def clustered_mean(values: np.ndarray, prompts: list[str]) -> tuple[float, float | None]:
    """The mean of per-image `values` and its standard error over prompts (None for one)."""
    groups: dict[str, list[float]] = {}
    for value, prompt in zip(values.tolist(), prompts, strict=True):
        groups.setdefault(prompt, []).append(value)
    means = np.array([np.mean(g) for g in groups.values()])
    se = float(means.std(ddof=1) / np.sqrt(len(means))) if len(means) > 1 else None
    return float(values.mean()), se


def eval_items(data: EmojiDataset) -> list[EvalItem]:
    seen: dict[int, int] = {}
    chosen: list[int] = []
    for i, sub in enumerate(data.subgroup_ids.tolist()):
        if data.styles[i] != data.styles[0]:
            continue
        if seen.get(sub, 0) < PER_SUBGROUP:
            seen[sub] = seen.get(sub, 0) + 1
            chosen.append(i)
    names = {data.names[i] for i in chosen}
    rows = [i for i in range(len(data)) if data.names[i] in names]
    return [
        EvalItem(data.captions[i], int(data.subgroup_ids[i]), seed) for seed, i in enumerate(rows)
    ]


def noises_of(items: list[EvalItem]) -> int:
    """How many starting noises each prompt of `items` has (`with_noises`)."""
    return len(items) // max(1, len({item.prompt for item in items}))


def check_pairable(saved: EvalReport | None, items: list[EvalItem]) -> None:
    """Refuse to pair with a saved row of other items than `items`: another number of images,
    or (where the row says) another number of noises per prompt."""
    if saved is None:
        return
    noises = noises_of(items)
    if saved.images != len(items) or saved.noises not in (None, noises):
        theirs = "" if saved.noises is None else f", {saved.noises} noises per prompt"
        raise ValueError(
            f"The saved row judged {saved.images} images{theirs} and this eval makes "
            f"{len(items)}, {noises} noises per prompt: pair only runs with the same --limit "
            "and --noises."
        )


def with_noises(items: list[EvalItem], noises: int, set_size: int) -> list[EvalItem]:
    """`items` with `noises` starting noises each (noise 0 first, as `items` are)."""
    if noises < 1:
        raise ValueError(f"Each prompt needs at least one starting noise, not {noises}.")
    return [replace(item, seed=item.seed + k * set_size) for k in range(noises) for item in items]


class _Keep:
    """An EventSink that keeps the final images of a lane."""

    def __init__(self) -> None:
        self.images: list[np.ndarray] = []

    def emit(self, event) -> None:
        if isinstance(event, LaneFinished):
            self.images.extend(event.images)

    def offer_preview(self, lane, make) -> bool:
        return False


def eval_jobs(ref: ModelRef, recipe: LaneRecipe, items: list[EvalItem]) -> list[GenerateJob]:
    """One job per prompt: the model with the recipe, each item's own seed, no previews."""
    jobs = []
    for item in items:
        shared = SharedParams(prompt=item.prompt, seed=item.seed, width=32, height=32)
        params = recipe.params(shared)
        lane = LaneSpec(model=ref, params=params)
        jobs.append(GenerateJob(lane=lane, previews=PreviewOptions(every=0)))
    return jobs


@runtime_checkable
class BatchRunner(Protocol):
    """Runs many one-lane jobs at once (a served engine's replicas), images in job order."""

    def run_all(self, jobs: list[GenerateJob]) -> list[np.ndarray]: ...


def generate_set(runner, ref: ModelRef, recipe: LaneRecipe, items: list[EvalItem]) -> np.ndarray:
    """The images of every item: on a batch runner all at once, else one job after another."""
    from studio.engine.cancel import CancelToken

    jobs = eval_jobs(ref, recipe, items)
    if isinstance(runner, BatchRunner):
        return np.stack(runner.run_all(jobs))
    sink = _Keep()
    for job in jobs:
        runner.run(job, CancelToken(), sink)
    return np.stack(sink.images)


def evaluate(
    runner,
    ref: ModelRef,
    recipe: LaneRecipe,
    items: list[EvalItem],
    classifier: Classifier,
    data_features: np.ndarray,
    teacher_images: np.ndarray | None = None,
    first: EvalReport | None = None,
) -> tuple[EvalReport, np.ndarray]:
    """The report of one model and recipe on `items`, and its images; agreement with
    `teacher_images` and the accuracy gap to `first` (both of the same items) when given."""
    started = time.perf_counter()
    images = generate_set(runner, ref, recipe, items)
    per_image = (time.perf_counter() - started) / len(items)
    predicted, features = classifier.predict(images)
    truth = np.array([item.subgroup_id for item in items])
    correct = predicted == truth
    prompts = [item.prompt for item in items]
    accuracy, accuracy_se = clustered_mean(correct.astype(float), prompts)
    gap, gap_se = None, None
    if first is not None and len(first.correct) == len(items):
        paired = correct.astype(float) - np.array(first.correct, dtype=float)
        gap, gap_se = clustered_mean(paired, prompts)
    agreement = _agreement(images, teacher_images)
    report = EvalReport(
        model=ref.display_name,
        recipe=recipe.label(),
        images=len(items),
        subgroup_accuracy=accuracy,
        frechet_distance=frechet_distance(features, data_features),
        seconds_per_image=per_image,
        psnr_to_teacher=agreement[0],
        ssim_to_teacher=agreement[1],
        accuracy_se=accuracy_se,
        gap_to_first=gap,
        gap_se=gap_se,
        noises=noises_of(items),
        correct=tuple(bool(c) for c in correct),
    )
    return report, images


def _agreement(images: np.ndarray, teacher: np.ndarray | None):
    if teacher is None:
        return None, None
    pairs = list(zip(images, teacher, strict=True))
    finite = [psnr(a, b) for a, b in pairs]
    finite = [v for v in finite if np.isfinite(v)] or [float("inf")]
    return float(np.mean(finite)), float(np.mean([ssim(a, b) for a, b in pairs]))


def _points(value: float, se: float | None, signed: bool = False) -> str:
    sign = "+" if signed else ""
    number = f"{100 * value:{sign}.1f}"
    return number if se is None else f"{number} ± {100 * se:.1f}"


def markdown_table(reports: list[EvalReport]) -> str:
    """The reports as a table: accuracy in percent ± one standard error over prompts, and its
    paired gap to the first row in points."""
    rows = [
        "| model | recipe | subgroup accuracy (%) | to the first (points) | FD | s / image | "
        "PSNR to teacher | SSIM to teacher |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        p = "—" if r.psnr_to_teacher is None else f"{r.psnr_to_teacher:.2f} dB"
        s = "—" if r.ssim_to_teacher is None else f"{r.ssim_to_teacher:.3f}"
        gap = "—" if r.gap_to_first is None else _points(r.gap_to_first, r.gap_se, signed=True)
        rows.append(
            f"| {r.model} | {r.recipe} | {_points(r.subgroup_accuracy, r.accuracy_se)} | {gap} | "
            f"{r.frechet_distance:.1f} | {r.seconds_per_image:.3f} | {p} | {s} |"
        )
    return "\n".join(rows)
