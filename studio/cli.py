"""The `studio` command: the window by default, and headless generate / compare / inspect."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from studio import bench_cli, desktop_cli, study_cli
from studio.core.jobs import CompareJob, GenerateJob, Lane, LaneSpec, PreviewOptions
from studio.core.metadata import MetadataError, format_parameters, parse_parameters, to_json_dict
from studio.core.models import EMBEDDED_STUDENT, EMBEDDED_TEACHER, ModelRef, ModelSource
from studio.core.params import (
    GenerationParams,
    ScheduleOptions,
    Sigmas,
    Spacing,
    ValidationError,
    validate,
)
from studio.core.pngio import read_parameters, write_png
from studio.core.skip_tuning import SkipTuning
from studio.lab import commands as lab_commands

DEFAULT_PROMPT = "grinning face, smileys & emotion, face smiling, noto style"


def model_ref(text: str) -> ModelRef:
    """A model argument: an embedded name, a local folder, a file, or a hub id."""
    path = Path(text).expanduser()
    if path.is_dir():
        return ModelRef(location=str(path.resolve()), source=ModelSource.folder)
    if path.is_file():
        return ModelRef(location=str(path.resolve()), source=ModelSource.file)
    if "/" not in text and not text.startswith("."):
        return ModelRef.embedded(text)
    if text.count("/") == 1 and not text.startswith(("/", ".", "~")):
        return ModelRef(location=text, source=ModelSource.hub)
    raise SystemExit(f"studio: no model folder or file at {text}.")


def default_student(args: argparse.Namespace) -> str:
    """The student asked for; else the embedded student, or the teacher when it is missing."""
    from studio.core.manifest import MANIFEST
    from studio.paths import embedded_model_dir

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


def _recipe_args(
    parser: argparse.ArgumentParser,
    prefix: str = "",
    steps: int = 25,
    guidance: float = 3.0,
    sampler: str = "DPM++ 2M",
) -> None:
    dash = f"--{prefix}-" if prefix else "--"
    dest = f"{prefix}_" if prefix else ""
    parser.add_argument(f"{dash}sampler", dest=f"{dest}sampler", default=sampler)
    parser.add_argument(f"{dash}steps", dest=f"{dest}steps", type=int, default=steps)
    parser.add_argument(f"{dash}guidance", dest=f"{dest}guidance", type=float, default=guidance)
    parser.add_argument(f"{dash}eta", dest=f"{dest}eta", type=float, default=0.0)
    parser.add_argument(
        f"{dash}classifier-scale",
        dest=f"{dest}classifier_scale",
        type=float,
        default=0.0,
        help="classifier guidance toward the prompt's emoji subgroup (embedded models; 0: off)",
    )
    parser.add_argument(
        f"{dash}sigmas", dest=f"{dest}sigmas", choices=[s.value for s in Sigmas], default="default"
    )
    parser.add_argument(
        f"{dash}spacing",
        dest=f"{dest}spacing",
        choices=[s.value for s in Spacing],
        default="default",
    )
    parser.add_argument(
        f"{dash}zero-snr",
        dest=f"{dest}zero_snr",
        action="store_true",
        help="rescale the schedule to zero terminal SNR",
    )
    for end, where in (("top", "outermost"), ("bottom", "innermost")):
        parser.add_argument(
            f"{dash}skip-{end}",
            dest=f"{dest}skip_{end}",
            type=float,
            default=1.0,
            metavar="RHO",
            help=f"Skip-Tuning factor of the {where} UNet skip connections (1 = off)",
        )


def _shared_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt", "-p", default=DEFAULT_PROMPT)
    parser.add_argument("--negative", "-n", default="")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--height", type=int, default=None)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--out", "-o", type=Path, default=None)
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    gen = sub.add_parser("generate", help="generate images with one model into a PNG")
    gen.add_argument("--model", "-m", default=EMBEDDED_TEACHER)
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
    _shared_args(gen)
    _recipe_args(gen)
    cmp_ = sub.add_parser("compare", help="teacher and student from the same noise, side by side")
    cmp_.add_argument("--teacher", default=EMBEDDED_TEACHER)
    cmp_.add_argument(
        "--student",
        default=None,
        help=f"default: {EMBEDDED_STUDENT}, or the teacher itself when that is not installed",
    )
    _shared_args(cmp_)
    _recipe_args(cmp_, "teacher", steps=50, guidance=3.0)
    _recipe_args(cmp_, "student", steps=4, guidance=1.0, sampler="DDIM trailing")
    sam = sub.add_parser("samplers", help="list the sampler registry")
    sam.add_argument("--kind", choices=["vp", "flow"], default=None)
    par = sub.add_parser("params", help="print the generation parameters stored in a PNG")
    par.add_argument("image", type=Path)
    sub.add_parser("window", help="open the studio window (the default without a command)")
    study_cli.register(sub, _recipe_args, _shared_args)
    desktop_cli.register(sub)
    lab_commands.register(sub)
    bench_cli.register(sub)
    return parser


def lane_params(args: argparse.Namespace, prefix: str = "") -> GenerationParams:
    def get(name: str):
        return getattr(args, f"{prefix}_{name}" if prefix else name)

    schedule = ScheduleOptions(
        sigmas=Sigmas(get("sigmas")),
        spacing=Spacing(get("spacing")),
        rescale_zero_snr=get("zero_snr"),
    )
    return validate(
        GenerationParams(
            prompt=args.prompt,
            negative_prompt=args.negative,
            sampler=get("sampler"),
            num_inference_steps=get("steps"),
            guidance_scale=get("guidance"),
            eta=get("eta"),
            classifier_scale=get("classifier_scale"),
            seed=args.seed,
            width=args.width or 32,
            height=args.height or 32,
            batch_size=args.batch,
            schedule=schedule,
            skip_tuning=SkipTuning(rho_top=get("skip_top"), rho_bottom=get("skip_bottom")),
        )
    )


def _default_size(args: argparse.Namespace, refs: Sequence[ModelRef]) -> None:
    if args.width and args.height:
        return
    embedded = all(r.source is ModelSource.embedded for r in refs)
    side = 32 if embedded else 512
    args.width, args.height = args.width or side, args.height or side


def cmd_generate(args: argparse.Namespace) -> int:
    from studio.headless import run_job

    ref = replace(model_ref(args.model), allow_pickle=args.allow_pickle, config=args.config)
    _default_size(args, [ref])
    params = lane_params(args)
    job = GenerateJob(lane=LaneSpec(model=ref, params=params), previews=PreviewOptions(every=0))
    report = run_job(job, progress=False if args.quiet else None)
    if report.failure or report.cancelled:
        print(f"studio: {report.failure or 'cancelled'}", file=sys.stderr)
        return 1
    finished = next(iter(report.lanes.values()))
    out = args.out or Path(f"studio-{params.seed}.png")
    paths = save_images(out, finished.images, format_parameters(params, model=ref.display_name))
    t = finished.timings
    print(
        f"wrote {', '.join(map(str, paths))} ({finished.steps} steps, "
        f"denoise {t.denoise_s:.2f}s, total {t.total_s:.2f}s)"
    )
    return 0


def save_images(out: Path, images, parameters: str) -> list[Path]:
    if len(images) == 1:
        return [write_png(out, images[0], parameters)]
    return [
        write_png(out.with_name(f"{out.stem}-{i + 1}{out.suffix or '.png'}"), img, parameters)
        for i, img in enumerate(images)
    ]


def cmd_compare(args: argparse.Namespace) -> int:
    from studio.core.sheet import side_by_side
    from studio.headless import run_job

    teacher, student = model_ref(args.teacher), model_ref(default_student(args))
    _default_size(args, [teacher, student])
    tp, sp = lane_params(args, "teacher"), lane_params(args, "student")
    job = CompareJob(
        teacher=LaneSpec(model=teacher, params=tp),
        student=LaneSpec(model=student, params=sp),
        previews=PreviewOptions(every=0),
    )
    report = run_job(job, progress=False if args.quiet else None)
    if report.failure or report.cancelled or report.compare is None:
        print(f"studio: {report.failure or 'cancelled'}", file=sys.stderr)
        return 1
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
    out = write_png(args.out or Path(f"compare-{tp.seed}.png"), image, text)
    c = report.compare
    print(f"wrote {out}")
    print(
        f"teacher {t.timings.total_s:.3f}s ({t.steps} steps)  student {s.timings.total_s:.3f}s "
        f"({s.steps} steps)  speed-up {c.speedup:.1f}x  PSNR {c.psnr:.2f} dB  SSIM {c.ssim:.3f}"
    )
    return 0


def cmd_samplers(args: argparse.Namespace) -> int:
    from studio.core.samplers import SAMPLERS, ModelKind

    width = max(len(spec.name) for spec in SAMPLERS)
    for spec in SAMPLERS:
        if args.kind and ModelKind(args.kind) not in spec.kinds:
            continue
        kinds = ",".join(sorted(k.value for k in spec.kinds))
        print(f"{spec.name:<{width}} {spec.scheduler:<34} {kinds:<5} {spec.summary}")
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    try:
        text = read_parameters(args.image)
        if text is None:
            print(f"studio: {args.image} has no generation parameters.", file=sys.stderr)
            return 1
        parsed = parse_parameters(text)
    except (MetadataError, OSError) as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(to_json_dict(parsed), indent=2, ensure_ascii=False))
    return 0


def cmd_window(args: argparse.Namespace) -> int:
    from studio.app import run

    return run()


COMMANDS = {
    "generate": cmd_generate,
    "compare": cmd_compare,
    "samplers": cmd_samplers,
    "params": cmd_params,
    "window": cmd_window,
    **study_cli.COMMANDS,
    **desktop_cli.COMMANDS,
    **lab_commands.COMMANDS,
}


def main(argv: Sequence[str] | None = None) -> int:
    from studio.logs import configure_logging

    configure_logging()
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["bench"]:
        return bench_cli.run(words[1:])
    args = build_parser().parse_args(words)
    command = args.command or "window"
    try:
        return COMMANDS[command](args)
    except ValidationError as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return 2
