"""The lab's `studio` sub-commands: train the teacher, distil students, evaluate them.

Importing this module is cheap (no torch): each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from pathlib import Path

TEACHER = "emoji-teacher"


def _common(parser: argparse.ArgumentParser, run: str) -> None:
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help=f"checkpoints, loss log and sample sheets (default: cache/runs/{run})",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--install",
        action="store_true",
        help="copy the exported weights into assets/models when done",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def register(sub) -> None:
    train = sub.add_parser("train", help="train the embedded emoji teacher (resumable)")
    _common(train, "teacher")
    train.add_argument("--steps", type=int, default=40_000, help="train until this step")
    train.add_argument("--batch", type=int, default=32)
    train.add_argument("--sample-every", type=int, default=1000)
    train.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="without a checkpoint, start from this exported teacher folder",
    )
    distill = sub.add_parser("distill", help="distil few-step students from the teacher")
    _common(distill, "distill-METHOD, or distill-METHOD-from-TEACHER")
    distill.add_argument(
        "--method", choices=["progressive", "consistency", "sid", "shortcut"], required=True
    )
    distill.add_argument(
        "--teacher",
        default=TEACHER,
        help="embedded name or folder: a pipeline, or a student adapter to distil further",
    )
    distill.add_argument("--rounds", default="16,8,4,2,1", help="progressive: student steps")
    distill.add_argument("--steps-per-round", type=int, default=2000)
    distill.add_argument(
        "--first-teacher-steps",
        type=int,
        default=0,
        help="progressive: the teacher's steps in the first round (default: twice the student's)",
    )
    distill.add_argument(
        "--steps", type=int, default=6000, help="consistency, sid, shortcut: steps"
    )
    distill.add_argument(
        "--init",
        default="emoji-student-1step",
        help="sid: the generator's start (embedded name or folder; the paper's: the teacher)",
    )
    distill.add_argument("--sid-alpha", type=float, default=1.2, help="sid: loss coefficient")
    distill.add_argument(
        "--sid-t-max", type=float, default=0.8, help="sid: top of the noise range (0-1]"
    )
    distill.add_argument("--sid-lr", type=float, default=1e-5, help="sid: both learning rates")
    distill.add_argument("--batch", type=int, default=32, help="sid, shortcut: batch size")
    distill.add_argument(
        "--sample-every", type=int, default=250, help="sid, shortcut: export, sheets"
    )
    distill.add_argument("--fp32", action="store_true", help="sid: no bfloat16 autocast")
    distill.add_argument(
        "--guidance",
        type=float,
        default=None,
        help="CFG folded into students (default 3; none for a teacher that is a guided student)",
    )
    distill.add_argument("--rank", type=int, default=32, help="LoRA rank of shipped students")
    evaluate = sub.add_parser("eval", help="evaluate embedded models on the fixed prompt set")
    evaluate.add_argument(
        "--models",
        default="emoji-teacher,emoji-student-4step,"
        "emoji-student-2step,emoji-student-1step,emoji-student-lcm",
        help="comma-separated: NAME (its own recipe) or NAME@SAMPLER/STEPS[/CFG[/CLASSIFIER]]",
    )
    evaluate.add_argument("--limit", type=int, default=0, help="first N prompts only (quick)")
    sheet = sub.add_parser(
        "sheet", help="a labelled contact sheet: the models on the same prompts and noise"
    )
    sheet.add_argument(
        "--models",
        default="emoji-teacher,emoji-student-4step,"
        "emoji-student-2step,emoji-student-1step,emoji-student-lcm",
    )
    sheet.add_argument("--count", type=int, default=16, help="prompts (columns), at most 16")
    sheet.add_argument("--out", type=Path, default=Path("contact-sheet.png"))
    evaluate.add_argument("--json", type=Path, default=None, help="also write the reports here")
    evaluate.add_argument(
        "--cards", action="store_true", help="write each evaluated model's card (README.md)"
    )
    evaluate.add_argument(
        "--status", default="interim weights of a run still training", help="the cards' status"
    )
    analytic = sub.add_parser(
        "analytic", help="estimate and cache a model's Gamma table (analytic-variance samplers)"
    )
    analytic.add_argument("--model", "-m", default=TEACHER, help="embedded name or folder")
    analytic.add_argument("--samples", type=int, default=128, help="clean samples per timestep")
    analytic.add_argument("--grid", type=int, default=50, help="training timesteps estimated")
    analytic.add_argument("--batch", type=int, default=32)
    analytic.add_argument("--force", action="store_true", help="estimate again, replace the cache")
    analytic.add_argument("--device", default="auto")
    analytic.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    guidance = sub.add_parser(
        "guidance-classifier",
        help="train the noise-conditional subgroup classifier for classifier guidance",
    )
    guidance.add_argument("--steps", type=int, default=4000)
    guidance.add_argument("--batch", type=int, default=64)
    guidance.add_argument("--out", type=Path, default=None, help="default: assets/guidance/...")
    guidance.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    amed = sub.add_parser("amed", help="train and cache a model's AMED predictors, one per NFE")
    amed.add_argument("--model", "-m", default=TEACHER, help="embedded name or folder")
    amed.add_argument("--nfe", default="3,4,5,6,8", help="model evaluations, comma-separated")
    amed.add_argument("--samples", type=int, default=64, help="prompts and noises trained on")
    amed.add_argument("--epochs", type=int, default=4)
    amed.add_argument("--substeps", type=int, default=12, help="reference steps per AMED step")
    amed.add_argument("--batch", type=int, default=16)
    amed.add_argument("--force", action="store_true", help="train again, replace the cache")
    amed.add_argument("--device", default="auto")
    amed.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _run_dir(args: argparse.Namespace, name: str) -> Path:
    from studio.lab.train_teacher import default_run_dir

    return args.run_dir or default_run_dir(name)


def install(exported: Path) -> Path:
    """Copy an exported model folder into assets/models, replacing the old one atomically."""
    from studio.paths import models_dir

    target = models_dir() / exported.name
    staging = target.with_name(target.name + ".installing")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(exported, staging)
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.replace(old)
    staging.replace(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def cmd_train(args: argparse.Namespace) -> int:
    from studio.lab.emoji_data import build_dataset
    from studio.lab.train_teacher import TeacherConfig, train_teacher

    run_dir = _run_dir(args, "teacher")
    cfg = TeacherConfig(batch_size=args.batch, sample_every=args.sample_every)
    train_teacher(
        build_dataset(progress=not args.quiet),
        run_dir,
        args.steps,
        args.threads,
        cfg,
        progress=not args.quiet,
    )
    exported = run_dir / "export" / TEACHER
    print(f"teacher exported to {exported}; sample sheets in {run_dir / 'samples'}")
    if args.install:
        print(f"installed {install(exported)}")
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    from studio.lab.distill_jobs import distill

    start = "" if args.teacher == TEACHER else f"-from-{Path(args.teacher).name}"
    run_dir = _run_dir(args, f"distill-{args.method}{start}")
    try:
        exported = distill(args, run_dir)
    except ValueError as exc:
        print(f"studio distill: {exc}", file=sys.stderr)
        return 2
    for folder in exported:
        print(f"student exported to {folder}")
        if args.install:
            print(f"installed {install(folder)}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from studio.core.atomic import atomic_write_text
    from studio.lab.cards import measured_section, write_card
    from studio.lab.eval_job import evaluate_models
    from studio.paths import embedded_model_dir

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    reports, table = evaluate_models(names, limit=args.limit or None)
    print(table)
    if args.json:
        atomic_write_text(args.json, json.dumps([r.as_dict() for r in reports], indent=2) + "\n")
    if args.cards and reports:
        command = "studio eval " + " ".join(shlex.quote(a) for a in sys.argv[2:])
        measured = measured_section(table, command, reports[0].images)
        for report in reports:
            card = write_card(embedded_model_dir(report.model), args.status, measured)
            print(f"card written: {card}")
    return 0


def cmd_sheet(args: argparse.Namespace) -> int:
    from studio.engine.model_cache import ModelCache
    from studio.engine.runner import Runner
    from studio.lab.contact_sheet import contact_sheet
    from studio.lab.eval_job import installed, recipe_for

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    models = [(name, recipe_for(name)) for name in names if installed(name)]
    if not models:
        print(f"none of {', '.join(names)} is installed under assets/models", file=sys.stderr)
        return 2
    out = contact_sheet(Runner(ModelCache(capacity=1)), models, args.out, max(1, args.count))
    print(f"contact sheet written: {out}")
    return 0


def cmd_analytic(args: argparse.Namespace) -> int:
    from studio.cli import model_ref
    from studio.engine.analytic.estimate import EstimateOptions
    from studio.lab.analytic_job import estimate_table, summary

    options = EstimateOptions(grid_points=args.grid, samples=args.samples, batch_size=args.batch)
    show = not args.quiet
    ref = model_ref(args.model)
    report = estimate_table(ref, options, force=args.force, device=args.device, progress=show)
    print(summary(report))
    return 0


def cmd_guidance_classifier(args: argparse.Namespace) -> int:
    from studio.engine.classifier_guidance import default_classifier_dir
    from studio.lab.emoji_data import build_dataset, load_dataset
    from studio.lab.guidance_classifier import save, train

    data = load_dataset(build_dataset(progress=not args.quiet))
    run = train(data, args.steps, args.batch, progress=not args.quiet)
    folder = save(run, data, args.out or default_classifier_dir(), args.steps)
    accuracy = ", ".join(f"t={t}: {a:.1%}" for t, a in run.held_out_accuracy.items())
    print(f"{folder}: held-out subgroup accuracy {accuracy} ({run.seconds:.0f} s)")
    return 0


def cmd_amed(args: argparse.Namespace) -> int:
    from studio.cli import model_ref
    from studio.engine.amed.fit import FitOptions
    from studio.lab.amed_job import parse_nfe, summary, train_predictors

    nfes = parse_nfe(args.nfe)
    options = FitOptions(
        samples=args.samples, batch_size=args.batch, substeps=args.substeps, epochs=args.epochs
    )
    ref = model_ref(args.model)
    reports = train_predictors(
        ref, nfes, options, force=args.force, device=args.device, progress=not args.quiet
    )
    print(summary(reports))
    return 0


COMMANDS = {
    "train": cmd_train,
    "distill": cmd_distill,
    "eval": cmd_eval,
    "sheet": cmd_sheet,
    "analytic": cmd_analytic,
    "amed": cmd_amed,
    "guidance-classifier": cmd_guidance_classifier,
}
