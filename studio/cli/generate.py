"""`studio generate` and `studio compare`: one model into a PNG, or a teacher and its student
from the same noise side by side, headless."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from studio.cli.args import (
    default_size,
    engine_token,
    fail,
    lane_params,
    model_arg,
    model_ref,
    output_file,
    preview_decoder_args,
    preview_options,
    progress,
    recipe_args,
    remote_model_ref,
    shared_args,
    timings_text,
    token_arg,
)
from studio.core.animation import animation_format
from studio.core.client import EngineClient
from studio.core.jobs import CompareJob, GenerateJob, Lane, LaneSpec, PreviewOptions
from studio.core.metadata import format_parameters
from studio.core.models import EMBEDDED_STUDENT, EMBEDDED_TEACHER
from studio.core.pngio import write_png

if TYPE_CHECKING:
    from studio.cli.headless import JobReport


def register(sub: argparse._SubParsersAction) -> None:
    gen = sub.add_parser("generate", help="generate images with one model into a PNG")
    model_arg(gen)
    gen.add_argument(
        "--allow-pickle",
        action="store_true",
        help="load this one pickle weights file (.ckpt, .bin) with torch.load(weights_only=True)",
    )
    gen.add_argument(
        "--config",
        default="",
        help="a single-file checkpoint's configs: sd15, sd21 (768, v-prediction), sd21-base "
        "(512), sdxl, or a diffusers folder (default: told from the file's tensor names)",
    )
    shared_args(gen)
    recipe_args(gen)
    gen.set_defaults(func=cmd_generate)
    cmp_ = sub.add_parser("compare", help="teacher and student from the same noise, side by side")
    cmp_.add_argument("--teacher", default=EMBEDDED_TEACHER)
    cmp_.add_argument(
        "--student",
        default=None,
        help=f"default: {EMBEDDED_STUDENT}, or the teacher itself when that is not installed",
    )
    shared_args(cmp_)
    recipe_args(cmp_, "teacher", steps=50, guidance=3.0)
    recipe_args(cmp_, "student", steps=4, guidance=1.0, sampler="DDIM trailing")
    cmp_.add_argument(
        "--engine",
        default="thread",
        metavar="{thread,process,URL}",
        help="run the engine in this process (default), in a child process as the window does, "
        "or on a served engine (`studio serve`) at URL",
    )
    token_arg(cmp_)
    cmp_.add_argument(
        "--animate",
        type=Path,
        default=None,
        metavar="OUT.webp|OUT.gif|OUT.mp4",
        help="also write the two panes forming step by step as an animated WebP or GIF, or an "
        "H.264 MP4 (which plays once: MP4 has no loop); turns on a preview every step",
    )
    cmp_.add_argument(
        "--animate-seconds",
        type=float,
        default=4.0,
        metavar="S",
        help="play the slower lane's run in S seconds, the other lane to the same scale "
        "(default 4; 0 plays real time)",
    )
    preview_decoder_args(cmp_)
    cmp_.set_defaults(func=cmd_compare)


def default_student(args: argparse.Namespace) -> str:
    """The student asked for; else the embedded student, or the teacher when it is missing."""
    from studio.core.manifest import MANIFEST
    from studio.core.paths import embedded_model_dir

    if args.student:
        return args.student
    folder = embedded_model_dir(EMBEDDED_STUDENT)
    if (folder / MANIFEST).is_file() or (folder / "model_index.json").is_file():
        return EMBEDDED_STUDENT
    print(
        f"studio: the distilled student {EMBEDDED_STUDENT} is not installed; the student lane "
        f"is {args.teacher} with the student recipe.",
        file=sys.stderr,
    )
    return args.teacher


def cmd_generate(args: argparse.Namespace) -> int:
    from studio.cli.headless import run_job

    ref = model_ref(args.model)
    ref = replace(ref, allow_pickle=args.allow_pickle, config=args.config or ref.config)
    default_size(args, [ref])
    params = lane_params(args)
    out = output_file(args.out, f"studio-{params.seed}.png")
    job = GenerateJob(lane=LaneSpec(model=ref, params=params), previews=PreviewOptions(every=0))
    report = run_job(job, progress=progress(args))
    if report.failure or report.cancelled:
        return fail(report.failure or "cancelled")
    finished = next(iter(report.lanes.values()))
    paths = save_images(out, finished.images, format_parameters(params, model=ref.display_name))
    print(f"wrote {', '.join(map(str, paths))} ({finished.steps} steps)")
    print(timings_text(finished.timings))
    return 0


def save_images(out: Path, images, parameters: str) -> list[Path]:
    """One image at `out`; several as `out`-1, -2, ... with the same parameters text."""
    if len(images) == 1:
        return [write_png(out, images[0], parameters)]
    return [
        write_png(out.with_name(f"{out.stem}-{i + 1}{out.suffix or '.png'}"), img, parameters)
        for i, img in enumerate(images)
    ]


def compare_engine(args: argparse.Namespace) -> EngineClient | None:
    """The engine a comparison runs on: a child process or a served engine when asked, else
    a new local one (None)."""
    if args.engine == "thread":
        return None
    if args.engine == "process":
        from studio.worker.process_engine import ProcessEngine

        return ProcessEngine()
    from studio.worker.remote_engine import RemoteEngine

    try:
        return RemoteEngine(args.engine, engine_token(args))
    except ValueError as exc:
        raise SystemExit(f"studio: {exc}") from None


def is_remote(args: argparse.Namespace) -> bool:
    return args.engine not in ("thread", "process")


def write_compare_animation(args: argparse.Namespace, report: JobReport) -> bool:
    """Write the comparison's animation at `args.animate` from the kept previews; say what
    was written, or why not in one sentence."""
    from studio.core.animation import Timing, timeline, write_animation
    from studio.core.reels import lane_reel

    reels = [
        lane_reel(role, report.lanes[lane], _kept(report, lane))
        for role, lane in (("Teacher", Lane.teacher), ("Student", Lane.student))
    ]
    timing = Timing(duration_s=max(0.0, args.animate_seconds))
    try:
        path = write_animation(args.animate, reels, timing)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        fail(f"could not write the animation {args.animate}: {reason}")
        return False
    frames = timeline(reels, timing)
    seconds = sum(frame.duration_ms for frame in frames) / 1000
    print(f"wrote {path} ({len(frames)} frames, {seconds:.1f} s)")
    return True


def _kept(report: JobReport, lane: Lane) -> dict:
    keeper = report.previews.get(lane)
    return keeper.frames if keeper is not None else {}


def cmd_compare(args: argparse.Namespace) -> int:
    from studio.cli.headless import run_job
    from studio.core.sheet import side_by_side

    if is_remote(args):
        teacher = remote_model_ref(args.teacher)
        student = remote_model_ref(args.student or EMBEDDED_STUDENT)
    else:
        teacher, student = model_ref(args.teacher), model_ref(default_student(args))
    if args.animate is not None:
        try:
            animation_format(args.animate)
        except ValueError as exc:
            return fail(str(exc))
    default_size(args, [teacher, student])
    tp, sp = lane_params(args, "teacher"), lane_params(args, "student")
    out = output_file(args.out, f"compare-{tp.seed}.png")
    job = CompareJob(
        teacher=LaneSpec(model=teacher, params=tp),
        student=LaneSpec(model=student, params=sp),
        previews=preview_options(args),
    )
    engine = compare_engine(args)
    try:
        report = run_job(job, progress=progress(args), host=engine)
    finally:
        if engine is not None:
            engine.close()
    if report.failure or report.cancelled or report.compare is None:
        return fail(report.failure or "cancelled")
    t, s = report.lanes[Lane.teacher], report.lanes[Lane.student]
    image = side_by_side(t.images[0], s.images[0])
    text = format_parameters(
        tp,
        model=teacher.display_name,
        extra={
            "Student": student.display_name,
            "Student recipe": f"{sp.sampler} {sp.num_inference_steps} "
            f"steps CFG {sp.guidance_scale:g}"
            + (f" Skip-Tuning {sp.skip_tuning.label()}" if sp.skip_tuning.enabled else ""),
        },
    )
    out = write_png(out, image, text)
    c = report.compare
    print(f"wrote {out}")
    if args.animate is not None and not write_compare_animation(args, report):
        return 1
    print(f"teacher ({t.steps} steps): {timings_text(t.timings)}")
    print(f"student ({s.steps} steps): {timings_text(s.timings)}")
    print(
        f"generation: teacher {t.timings.total_s:.3f}s  student {s.timings.total_s:.3f}s  "
        f"speed-up {c.speedup:.1f}x  PSNR {c.psnr:.2f} dB  SSIM {c.ssim:.3f}"
    )
    return 0
