"""`studio grid` and `studio converge`: X/Y grids and sampler convergence curves, headless.

`studio grid --x sampler=DDIM,Euler --y steps=4,8,16` writes one labelled PNG (the base recipe
and both axes in its parameters text). `studio converge --steps 2,4,8,16,32` writes a PSNR plot,
a classifier-agreement plot when the subgroup classifier fits the model, and a CSV. Both pictures
are drawn with Pillow, so neither command loads Qt.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from studio.cli.args import (
    DEFAULT_PROMPT,
    default_size,
    fail,
    lane_params,
    model_arg,
    model_ref,
    model_side,
    output_file,
    preview_decoder_args,
    preview_options,
    progress,
    quiet_arg,
    recipe_args,
    shared_args,
)
from studio.core.atomic import atomic_write_bytes, atomic_write_text
from studio.core.convergence import (
    DEFAULT_STEPS,
    REFERENCE_SAMPLER,
    REFERENCE_STEPS,
    ConvergencePoint,
    ConvergenceSpec,
    StudentCurve,
    fewest_nfe,
    parse_samplers,
    parse_steps,
    points_csv,
)
from studio.core.events import GridCellFinished
from studio.core.grid import GridSpec, parse_grid
from studio.core.jobs import ConvergeJob, GridJob, LaneSpec, PreviewOptions, validate_job
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams, ValidationError
from studio.core.paths import embedded_model_dir
from studio.core.student_recipe import own_recipe

if TYPE_CHECKING:
    from studio.core.reels import CellFrames

PSNR_MARKS = (25.0, 30.0, 35.0)


def register(sub: argparse._SubParsersAction) -> None:
    grid = sub.add_parser("grid", help="an X/Y grid of recipes from the same noise, as one PNG")
    model_arg(grid)
    grid.add_argument("--x", required=True, metavar="AXIS=V1,V2", help="e.g. sampler=DDIM,Euler")
    grid.add_argument("--y", default=None, metavar="AXIS=V1,V2", help="e.g. steps=4,8,16,32")
    shared_args(grid)
    recipe_args(grid)
    grid.add_argument(
        "--animate",
        type=Path,
        default=None,
        metavar="OUT.webp|OUT.gif|OUT.mp4",
        help="also write one row's cells side by side, each forming step by step from its "
        "previews on its own clock (a fast cell holds its image while slower ones finish)",
    )
    grid.add_argument("--animate-row", type=int, default=0, metavar="Y", help="(default 0)")
    grid.add_argument(
        "--animate-seconds",
        type=float,
        default=4.0,
        metavar="S",
        help="play the row's slowest cell in S seconds, the others to the same scale "
        "(default 4; 0 plays real time)",
    )
    preview_decoder_args(grid)
    grid.set_defaults(func=cmd_grid)
    conv = sub.add_parser(
        "converge", help="PSNR of each deterministic sampler to a many-step reference, vs NFE"
    )
    model_arg(conv)
    conv.add_argument("--samplers", default="", help="comma-separated (default: all that fit)")
    conv.add_argument("--steps", default=",".join(map(str, DEFAULT_STEPS)))
    conv.add_argument("--reference-sampler", default=REFERENCE_SAMPLER)
    conv.add_argument("--reference-steps", type=int, default=REFERENCE_STEPS)
    conv.add_argument("--prompt", "-p", action="append", help="repeat for several prompts")
    conv.add_argument("--negative", "-n", default="")
    conv.add_argument(
        "--seeds", default="0,1", help="comma-separated seeds (cases = prompts x seeds)"
    )
    conv.add_argument("--guidance", type=float, default=3.0)
    conv.add_argument(
        "--student",
        action="append",
        default=[],
        metavar="NAME[@SAMPLER[/CFG]]",
        help="also draw this student of the model (its own sampler and CFG unless given) "
        "against the same references; repeat for several",
    )
    conv.add_argument("--size", type=int, default=None, help="width and height (default: model's)")
    conv.add_argument("--out", "-o", type=Path, default=Path("."), help="folder to write into")
    conv.add_argument("--stem", default="curve", help="file names: STEM.png, STEM.csv")
    quiet_arg(conv, help="no progress")
    conv.set_defaults(func=cmd_converge)


def cmd_grid(args: argparse.Namespace) -> int:
    from studio.cli.headless import JobReport, run_job
    from studio.core.grid_sheet import grid_parameters, grid_sheet, grid_title
    from studio.core.pngio import write_png

    ref = model_ref(args.model)
    default_size(args, [ref])
    params = lane_params(args)
    out = output_file(args.out, f"grid-{params.seed}.png")
    grid = parse_grid(args.x, args.y, resolve_model=model_ref)
    if args.animate is not None and (problem := animation_problem(args.animate, grid, args)):
        return fail(problem)
    job = validate_job(GridJob(base=LaneSpec(model=ref, params=params), grid=grid))
    job = replace(job, previews=grid_previews(args, job))
    row = args.animate_row
    report = run_job(
        job, progress=progress(args), report=JobReport(keep_cell=lambda c: c[1] == row)
    )
    if report.failure or report.cancelled:
        return fail(report.failure or "cancelled")
    sheet = grid_sheet(grid, report.cells, title=grid_title(ref.display_name, params, grid))
    write_png(out, sheet, grid_parameters(params, ref.display_name, grid))
    for cell in report.cells:
        result = cell.error or f"{cell.wall_s:.3f} s, {cell.nfe} NFE"
        print(f"{cell.label:<40} {result}")
    print(f"wrote {out}")
    if args.animate is not None:
        return write_row_animation(args, report.cells, report.kept_cells(), job.previews)
    return 0


def animation_problem(path: Path, grid: GridSpec, args: argparse.Namespace) -> str:
    """Why --animate cannot be written (a suffix, a row the grid lacks), or ""."""
    from studio.core.animation import animation_format

    try:
        animation_format(path)
    except ValueError as exc:
        return str(exc)
    if not 0 <= args.animate_row < grid.rows:
        return (
            f"--animate-row {args.animate_row} is not a row of this grid: use 0 to {grid.rows - 1}"
        )
    return ""


def grid_previews(args: argparse.Namespace, job: GridJob) -> PreviewOptions:
    """No previews without --animate; with it, the asked-for decoder at a spacing that keeps
    the animated row's longest cell within the preview keeper's bound (every step up to it)."""
    from studio.core.reels import MAX_SHOTS

    if args.animate is None:
        return PreviewOptions(every=0)
    steps = [c.params.num_inference_steps for c in job.cells() if c.y == args.animate_row]
    return replace(preview_options(args), every=preview_spacing(max(steps, default=1), MAX_SHOTS))


def preview_spacing(steps: int, limit: int) -> int:
    """Every how many steps to take a preview so that a run of `steps` gives at most `limit`."""
    return max(1, math.ceil(steps / max(1, limit)))


def write_row_animation(
    args: argparse.Namespace,
    cells: list[GridCellFinished],
    kept: CellFrames,
    previews: PreviewOptions,
) -> int:
    """Write the grid row --animate-row at --animate: each cell forming from its kept previews
    on its own clock; say what was written, or why not in one sentence."""
    from studio.core.animation import Timing, timeline, write_animation
    from studio.core.reels import grid_row_reels

    row, path = args.animate_row, args.animate
    reels = grid_row_reels((cell for cell in cells if cell.y == row), kept)
    timing = Timing(duration_s=max(0.0, args.animate_seconds))
    try:
        written = write_animation(path, reels, timing)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return fail(f"could not write the animation {path}: {reason}")
    frames = timeline(reels, timing)
    seconds = sum(frame.duration_ms for frame in frames) / 1000
    shots = sum(len(reel.shots) - 1 for reel in reels if reel.shots)
    print(
        f"wrote {written} (row {row}: {len(reels)} cells, {shots} step previews taken every "
        f"{previews.every} step(s), {len(frames)} frames, {seconds:.1f} s)"
    )
    return 0


def _seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValidationError(
            [f"Write the seeds as whole numbers, like 0,1,2, not {text!r}."]
        ) from None


def converge_job(args: argparse.Namespace) -> ConvergeJob:
    ref = model_ref(args.model)
    side = args.size or model_side(ref)
    prompts = tuple(args.prompt or [DEFAULT_PROMPT])
    spec = ConvergenceSpec(
        samplers=parse_samplers(args.samplers),
        steps=parse_steps(args.steps),
        reference_sampler=args.reference_sampler,
        reference_steps=args.reference_steps,
        prompts=prompts,
        seeds=_seeds(args.seeds),
        students=tuple(student_curve(text) for text in args.student),
    )
    params = GenerationParams(
        prompt=prompts[0],
        negative_prompt=args.negative,
        sampler=args.reference_sampler,
        guidance_scale=args.guidance,
        width=side,
        height=side,
    )
    return validate_job(ConvergeJob(base=LaneSpec(model=ref, params=params), spec=spec))


def student_curve(text: str) -> StudentCurve:
    """`NAME[@SAMPLER[/CFG]]`: a student and the sampler and CFG it runs with, by default its
    own (a shortcut model's DDIM trailing, an adapter's manifest recipe; CFG 1 for a sampler
    given for a model that names none); ValidationError, one sentence, when none can be told."""
    name, _, recipe = text.strip().partition("@")
    ref = model_ref(name)
    sampler, _, cfg = recipe.partition("/")
    folder = model_folder(ref)
    own = own_recipe(folder) if folder is not None else None
    if not sampler and own is None:
        raise ValidationError(
            [f"--student {text}: {ref.display_name} names no recipe: write {name}@SAMPLER[/CFG]."]
        )
    try:
        guidance = float(cfg) if cfg else (own.guidance_scale if own else 1.0)
    except ValueError:
        raise ValidationError([f"--student {text}: the CFG is a number, like 1 or 3."]) from None
    chosen = parse_samplers(sampler)[0] if sampler else own.sampler if own else ""
    return StudentCurve(model=ref, sampler=chosen, guidance=guidance)


def model_folder(ref: ModelRef) -> Path | None:
    """The folder an embedded or folder model lives in; None for a hub id or a file."""
    if ref.source is ModelSource.embedded:
        return embedded_model_dir(ref.location)
    if ref.source is ModelSource.folder:
        return Path(ref.location)
    return None


def cmd_converge(args: argparse.Namespace) -> int:
    from studio.cli.headless import run_job
    from studio.worker.host import headless_host

    job = converge_job(args)
    host = headless_host(judged=True)
    try:
        report = run_job(job, progress=progress(args), host=host)
    finally:
        host.close()
    if report.failure or report.cancelled or not report.points:
        return fail(report.failure or "cancelled")
    for path in write_curves(args.out, args.stem, report.points, curve_title(job)):
        print(f"wrote {path}")
    print(ranking_text(report.points))
    return 0


def curve_title(job: ConvergeJob) -> str:
    p, spec = job.base.params, job.spec
    cases = len(spec.cases(p.prompt, p.seed))
    return (
        f"{job.base.model.display_name} · CFG {p.guidance_scale:g} · {p.width}x{p.height} · "
        f"reference {spec.reference_sampler}, {spec.reference_steps} steps · "
        f"mean of {cases} prompt/seed cases"
    )


def write_curves(folder: Path, stem: str, points: list[ConvergencePoint], title: str) -> list[Path]:
    """STEM.csv, STEM.png (PSNR) and, when the classifier judged, STEM-agreement.png."""
    from studio.core.curve_sheet import curve_png

    written = [atomic_write_text(folder / f"{stem}.csv", points_csv(points))]
    metrics = ["psnr"] + (["agreement"] if all(p.agreement is not None for p in points) else [])
    for metric in metrics:
        name = f"{stem}.png" if metric == "psnr" else f"{stem}-{metric}.png"
        written.append(atomic_write_bytes(folder / name, curve_png(points, metric, title)))
    return written


def ranking_text(points: list[ConvergencePoint]) -> str:
    """For a few PSNR marks, the fewest evaluations each sampler needed to reach it."""
    lines = []
    for mark in PSNR_MARKS:
        ranked = fewest_nfe(points, mark)
        reached = ", ".join(f"{name} {nfe}" for name, nfe in ranked if nfe is not None) or "none"
        lines.append(f"fewest NFE to {mark:g} dB: {reached}")
    return "\n".join(lines)
