"""Suite part 4: teacher against students, time and quality per step count, speed-up at equal
quality.

Every configuration (the teacher with DPM++ 2M CFG 3 at several step counts; each installed
student with its own sampler and CFG at 1, 2 and 4 steps) samples the same prompts, spread over
the fixed evaluation set (seed = prompt index), through the engine's Runner. Quality comes from
`studio.lab.evaluate`: the subgroup classifier's accuracy, and PSNR / SSIM to the teacher's own
recipe (DPM++ 2M, 20 steps) from the same starting noise. Time per image is timed apart: batch
1, one prompt, configurations interleaved, after a warm-up.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from benchmarks.common import interleaved
from benchmarks.options import PartOptions
from benchmarks.report import cpu_model
from benchmarks.results import PartResult, Stat, Table
from benchmarks.speedup import Point, equal_quality
from benchmarks.speedup_plot import PLOT_NAME, draw
from studio.core.jobs import GenerateJob, LaneSpec, PreviewOptions
from studio.core.models import EMBEDDED_TEACHER, ModelRef
from studio.core.settings import LaneRecipe, SharedParams
from studio.lab.eval_job import TEACHER_RECIPE, installed, recipe_for
from studio.lab.evaluate import EvalReport, evaluate

STUDENTS = (
    "emoji-student-4step",
    "emoji-student-2step",
    "emoji-student-1step",
    "emoji-student-lcm",
    "emoji-student-sid",
    "emoji-shortcut",
)
TEACHER_STEPS, QUICK_TEACHER_STEPS = (4, 6, 8, 12), (4,)
STUDENT_STEPS = (1, 2, 4)
PROMPTS, QUICK_PROMPTS = 100, 4
REPEATS, QUICK_REPEATS = 7, 1
TIMING_PROMPT = "red heart, smileys & emotion, heart, noto style"


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """One model sampled with one recipe."""

    model: str
    recipe: LaneRecipe

    @property
    def label(self) -> str:
        return f"{self.model}, {self.recipe.label()}"


class _Drop:
    """An event sink that keeps nothing."""

    def emit(self, event) -> None:
        pass

    def offer_preview(self, lane, make) -> bool:
        return False


def configs(quick: bool) -> list[Config]:
    """The teacher's own recipe first (the reference), then the rest."""
    found = [Config(model=EMBEDDED_TEACHER, recipe=TEACHER_RECIPE)]
    for steps in QUICK_TEACHER_STEPS if quick else TEACHER_STEPS:
        found.append(
            Config(
                model=EMBEDDED_TEACHER, recipe=replace(TEACHER_RECIPE, num_inference_steps=steps)
            )
        )
    for name in STUDENTS:
        if not installed(name):
            continue
        own = recipe_for(name)
        counts = (
            (own.num_inference_steps,)
            if quick
            else sorted({*STUDENT_STEPS, own.num_inference_steps})
        )
        found += [Config(model=name, recipe=replace(own, num_inference_steps=n)) for n in counts]
    return found


def timing_job(config: Config) -> GenerateJob:
    params = config.recipe.params(SharedParams(prompt=TIMING_PROMPT, seed=1, width=32, height=32))
    lane = LaneSpec(model=ModelRef.embedded(config.model), params=params)
    return GenerateJob(lane=lane, previews=PreviewOptions(every=0))


def time_configs(runner, found: list[Config], repeats: int) -> dict[str, Stat]:
    from studio.engine.cancel import CancelToken

    jobs = {c.label: timing_job(c) for c in found}
    variants = {
        label: (lambda j=job: runner.run(j, CancelToken(), _Drop())) for label, job in jobs.items()
    }
    samples = interleaved(variants, repeats, warmup=1)
    return {label: Stat.of(s.seconds) for label, s in samples.items()}


def evaluate_configs(runner, found: list[Config], limit: int) -> list[EvalReport]:
    from benchmarks.skip_tuning import load_prompt_set

    prompts = load_prompt_set(limit)
    reports, reference = [], None
    for config in found:
        report, images = evaluate(
            runner,
            ModelRef.embedded(config.model),
            config.recipe,
            prompts.items,
            prompts.classifier,
            prompts.data_features,
            reference,
        )
        reference = images if reference is None else reference
        reports.append(report)
    return reports


def points(found: list[Config], reports: list[EvalReport], times: dict[str, Stat]) -> list[Point]:
    return [
        Point(
            model=c.model,
            steps=c.recipe.num_inference_steps,
            seconds=times[c.label].median,
            accuracy=r.subgroup_accuracy,
            psnr=r.psnr_to_teacher if i else None,
            ssim=r.ssim_to_teacher if i else None,
            reference=i == 0,
        )
        for i, (c, r) in enumerate(zip(found, reports, strict=True))
    ]


def quality_rows(
    found: list[Config], reports: list[EvalReport], times: dict[str, Stat], pts: list[Point]
) -> tuple[tuple[str, ...], ...]:
    teacher = [p for p in pts if p.model == EMBEDDED_TEACHER]
    rows = []
    for c, r, p in zip(found, reports, pts, strict=True):
        psnr = "reference" if p.reference else f"{r.psnr_to_teacher:.2f} dB"
        ssim = "reference" if p.reference else f"{r.ssim_to_teacher:.3f}"
        by_acc = equal_quality(p, teacher, "accuracy") if p.model != EMBEDDED_TEACHER else ""
        by_psnr = equal_quality(p, teacher, "psnr") if p.model != EMBEDDED_TEACHER else ""
        rows.append(
            (
                c.model,
                c.recipe.label(),
                times[c.label].text(3),
                f"{r.subgroup_accuracy:.1%}",
                psnr,
                ssim,
                f"{r.frechet_distance:.1f}",
                by_acc,
                by_psnr,
            )
        )
    return tuple(rows)


COLUMNS = (
    "model",
    "recipe",
    "s / image (IQR)",
    "subgroup accuracy",
    "PSNR to teacher",
    "SSIM to teacher",
    "FD",
    "speed-up at equal accuracy",
    "speed-up at equal PSNR",
)


def method_text(n: int, repeats: int) -> str:
    se = math.sqrt(0.6 * 0.4 / n) if n else 0.0
    return (
        f"{n} prompts spread evenly over the 394 fixed evaluation prompts (all subgroups, both "
        "styles; seed = prompt index), 32x32, each configuration through the engine's Runner. "
        "Accuracy is the subgroup classifier's (`studio.lab.evaluate`); at 60% its binomial "
        f"standard error over {n} prompts is ±{se:.1%}, so differences of a few points are "
        "noise. PSNR / SSIM compare each image with the teacher's own recipe (DPM++ 2M, 20 "
        "steps, CFG 3) from the same starting noise. FD (Fréchet distance of classifier "
        f"features to the training set) on {n} images is biased upward; compare it only within "
        "this table. Time per image: batch 1, one prompt, all configurations interleaved, "
        f"{repeats} rounds after a warm-up. Speed-up at equal quality: the teacher's time at "
        "the student's quality, read off the teacher's curve (interpolated in log time between "
        "its step counts), over the student's time; `≤` when the teacher's cheapest point is "
        "already as good (the true speed-up is lower), `≥` when the student beats the "
        "teacher's best point measured."
    )


def run(options: PartOptions) -> PartResult:
    from studio.engine.model_cache import ModelCache
    from studio.engine.runner import Runner

    found = configs(options.quick)
    limit = QUICK_PROMPTS if options.quick else PROMPTS
    repeats = QUICK_REPEATS if options.quick else REPEATS
    runner = Runner(ModelCache(capacity=len({c.model for c in found})))
    reports = evaluate_configs(runner, found, limit)
    times = time_configs(runner, found, repeats)
    pts = points(found, reports, times)
    image = Path(options.image_dir) / PLOT_NAME
    subtitle = f"{reports[0].images} prompts at 32x32; time at batch 1 on {cpu_model()}"
    draw(pts, image, subtitle + (" (QUICK RUN: not valid)" if options.quick else ""))
    return PartResult(
        key="pair",
        title="4. Teacher against students: time and quality per step count",
        method=method_text(reports[0].images, repeats),
        tables=(Table(columns=COLUMNS, rows=quality_rows(found, reports, times, pts)),),
        images=(PLOT_NAME,),
        raw={
            "reports": [r.as_dict() for r in reports],
            "timings": {c.label: asdict(times[c.label]) for c in found},
        },
    )
