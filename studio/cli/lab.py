"""The lab's commands: train the teacher, distil students, evaluate them, fit sampler extras.

Each command turns its options into a call of a `studio.lab` job (which prints no bars of its
own making and knows no argparse). Parsing is cheap: every command imports torch when it runs.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from functools import partial
from pathlib import Path

from studio.cli.args import (
    engine_token,
    fail,
    model_arg,
    model_ref,
    quiet_arg,
    threads_arg,
    token_arg,
)
from studio.core.models import EMBEDDED_TEACHER

EVAL_MODELS = (
    "emoji-teacher,emoji-student-4step,emoji-student-2step,emoji-student-1step,emoji-student-lcm"
)
SHEET_MODELS = EVAL_MODELS + ",emoji-student-sid,emoji-shortcut"


def register(sub: argparse._SubParsersAction) -> None:
    _train(sub)
    _distill(sub)
    _eval(sub)
    _sheet(sub)
    _analytic(sub)
    _guidance_classifier(sub)
    _amed(sub)


def _common(parser: argparse.ArgumentParser, run: str) -> None:
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help=f"checkpoints, loss log and sample sheets (default: cache/runs/{run})",
    )
    threads_arg(parser)
    parser.add_argument(
        "--install",
        action="store_true",
        help="copy the exported weights into assets/models when done",
    )
    quiet_arg(parser)


def _train(sub: argparse._SubParsersAction) -> None:
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
    _workers_args(train, "data-parallel workers on Ray Train (DDP), each taking batch/N")
    train.set_defaults(func=cmd_train)


def _workers_args(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help=f"{what} of the same global batch (needs the cluster extra; default 1: this "
        "process alone)",
    )
    parser.add_argument(
        "--ray-address",
        default=None,
        help="with --workers N: the Ray cluster to join (default: start a local Ray)",
    )


def _distill(sub: argparse._SubParsersAction) -> None:
    distill = sub.add_parser("distill", help="distil few-step students from the teacher")
    _common(distill, "distill-METHOD, or distill-METHOD-from-TEACHER")
    distill.add_argument(
        "--method", choices=["progressive", "consistency", "sid", "shortcut"], required=True
    )
    distill.add_argument(
        "--teacher",
        default=EMBEDDED_TEACHER,
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
        default="",
        help="sid: the generator's start (embedded name or folder; default emoji-student-1step, "
        "the paper's: the teacher); shortcut: a shortcut model to train further (default: start "
        "from the teacher)",
    )
    distill.add_argument("--sid-alpha", type=float, default=1.2, help="sid: loss coefficient")
    distill.add_argument(
        "--sid-t-max", type=float, default=0.8, help="sid: top of the noise range (0-1]"
    )
    distill.add_argument("--sid-lr", type=float, default=1e-5, help="sid: both learning rates")
    distill.add_argument(
        "--sid-fake-warmup",
        type=int,
        default=0,
        help="sid: fake-denoiser updates before the generator's first (for an --init that is "
        "already a trained SiD student; default 0, the paper's)",
    )
    distill.add_argument(
        "--sid-fake-guidance",
        type=float,
        default=1.0,
        help="sid: classifier-free guidance of the fake denoiser, trained and evaluated (SiD-LSG's "
        "kappa; default 1: none, the teacher alone guided)",
    )
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
    distill.add_argument(
        "--anneal-from",
        type=int,
        default=0,
        help="shortcut: from this run step, decay the learning rate linearly to 0 at --steps",
    )
    distill.add_argument(
        "--consistency-fraction",
        type=float,
        default=None,
        help="shortcut: the batch's share for self-consistency, the rest anchors on the teacher "
        "(default 0.5)",
    )
    _workers_args(
        distill,
        "data-parallel workers on Ray Train (DDP; every method: progressive, consistency, sid "
        "and shortcut), each taking batch/N",
    )
    distill.set_defaults(func=cmd_distill)


def _eval(sub: argparse._SubParsersAction) -> None:
    evaluate = sub.add_parser("eval", help="evaluate embedded models on the fixed prompt set")
    evaluate.add_argument(
        "--models",
        default=EVAL_MODELS,
        help="comma-separated: NAME (its own recipe) or NAME@SAMPLER/STEPS[/CFG[/CLASSIFIER]]",
    )
    evaluate.add_argument("--limit", type=int, default=0, help="first N prompts only (quick)")
    evaluate.add_argument(
        "--noises",
        type=int,
        default=1,
        help="starting noises per prompt (default 1, the fixed set; more: a tighter measurement, "
        "noise k of prompt i seeded i + k x the set's size)",
    )
    evaluate.add_argument(
        "--engine",
        metavar="URL",
        help="generate on a served engine (`studio serve`), every prompt spread over its "
        "replicas; the judging stays here",
    )
    token_arg(evaluate)
    evaluate.add_argument(
        "--json",
        type=Path,
        default=None,
        help="also write the reports here, each image's verdict too (1 right, 0 wrong, in prompt "
        "order, noise after noise), so that runs on the same prompts and noises can be paired",
    )
    evaluate.add_argument(
        "--pair-with",
        type=Path,
        metavar="FILE",
        help="pair each row's accuracy gap with a row of an earlier `--json` file of the same "
        "prompts and noises (e.g. the teacher's, not generated again); that row heads the table",
    )
    evaluate.add_argument(
        "--pair-row", type=int, default=0, metavar="N", help="the row of --pair-with (default 0)"
    )
    evaluate.add_argument(
        "--cards", action="store_true", help="write each evaluated model's card (README.md)"
    )
    evaluate.add_argument(
        "--status", default="interim weights of a run still training", help="the cards' status"
    )
    evaluate.set_defaults(func=cmd_eval)


def _sheet(sub: argparse._SubParsersAction) -> None:
    sheet = sub.add_parser(
        "sheet", help="a labelled contact sheet: the models on the same prompts and noise"
    )
    sheet.add_argument("--models", default=SHEET_MODELS, help="default: every shipped model")
    sheet.add_argument("--count", type=int, default=16, help="prompts (columns), at most 16")
    sheet.add_argument("--out", type=Path, default=Path("contact-sheet.png"))
    sheet.set_defaults(func=cmd_sheet)


def _analytic(sub: argparse._SubParsersAction) -> None:
    analytic = sub.add_parser(
        "analytic", help="estimate and cache a model's Gamma table (analytic-variance samplers)"
    )
    model_arg(analytic, help="embedded name or folder")
    analytic.add_argument("--samples", type=int, default=128, help="clean samples per timestep")
    analytic.add_argument("--grid", type=int, default=50, help="training timesteps estimated")
    analytic.add_argument("--batch", type=int, default=32)
    analytic.add_argument("--force", action="store_true", help="estimate again, replace the cache")
    analytic.add_argument("--device", default="auto")
    quiet_arg(analytic)
    analytic.set_defaults(func=cmd_analytic)


def _guidance_classifier(sub: argparse._SubParsersAction) -> None:
    guidance = sub.add_parser(
        "guidance-classifier",
        help="train the noise-conditional subgroup classifier for classifier guidance",
    )
    guidance.add_argument("--steps", type=int, default=4000)
    guidance.add_argument("--batch", type=int, default=64)
    guidance.add_argument("--out", type=Path, default=None, help="default: assets/guidance/...")
    quiet_arg(guidance)
    guidance.set_defaults(func=cmd_guidance_classifier)


def _amed(sub: argparse._SubParsersAction) -> None:
    amed = sub.add_parser("amed", help="train and cache a model's AMED predictors, one per NFE")
    model_arg(amed, help="embedded name or folder")
    amed.add_argument("--nfe", default="3,4,5,6,8", help="model evaluations, comma-separated")
    amed.add_argument("--samples", type=int, default=64, help="prompts and noises trained on")
    amed.add_argument("--epochs", type=int, default=4)
    amed.add_argument("--substeps", type=int, default=12, help="reference steps per AMED step")
    amed.add_argument("--batch", type=int, default=16)
    amed.add_argument("--force", action="store_true", help="train again, replace the cache")
    amed.add_argument(
        "--plugin",
        action="store_true",
        help="train the AMED-Plugin's predictors (on DPM-Solver++ 2M) instead of AMED's",
    )
    amed.add_argument("--device", default="auto")
    quiet_arg(amed)
    amed.set_defaults(func=cmd_amed)


def _run_dir(args: argparse.Namespace, name: str) -> Path:
    from studio.lab.train_teacher import default_run_dir

    return args.run_dir or default_run_dir(name)


def cmd_train(args: argparse.Namespace) -> int:
    from studio.lab.emoji_build import build_dataset
    from studio.lab.export import install_model
    from studio.lab.train_teacher import TeacherConfig, train_teacher

    run_dir = _run_dir(args, "teacher")
    if args.init_from is not None and not (args.init_from / "unet").is_dir():
        print(f"--init-from {args.init_from} is not an exported teacher folder (no unet/ in it).")
        return 2
    cfg = TeacherConfig(batch_size=args.batch, sample_every=args.sample_every)
    if args.workers < 1 or args.batch % args.workers:
        print(
            f"studio train: --workers {args.workers} must be at least 1 and divide the batch "
            f"of {args.batch}.",
            file=sys.stderr,
        )
        return 2
    job = partial(
        train_teacher,
        build_dataset(progress=not args.quiet),
        run_dir,
        args.steps,
        args.threads,
        cfg,
        progress=not args.quiet,
        init_from=args.init_from,
    )
    if args.workers == 1:
        job()
    else:
        try:
            _on_ray(args, job, run_dir)
        except ValueError as exc:
            print(f"studio train: {exc}", file=sys.stderr)
            return 2
    exported = run_dir / "export" / EMBEDDED_TEACHER
    print(f"teacher exported to {exported}; sample sheets in {run_dir / 'samples'}")
    if args.install:
        print(f"installed {install_model(exported)}")
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    from studio.lab.distill_jobs import DistillOptions, data_parallel_refusal, distill
    from studio.lab.export import install_model

    start = "" if args.teacher == EMBEDDED_TEACHER else f"-from-{Path(args.teacher).name}"
    run_dir = _run_dir(args, f"distill-{args.method}{start}")
    try:
        options = DistillOptions(
            method=args.method,
            teacher=args.teacher,
            rounds=_rounds(args),
            steps_per_round=args.steps_per_round,
            first_teacher_steps=args.first_teacher_steps,
            steps=args.steps,
            init=args.init,
            sid_alpha=args.sid_alpha,
            sid_t_max=args.sid_t_max,
            sid_lr=args.sid_lr,
            sid_fake_warmup=args.sid_fake_warmup,
            sid_fake_guidance=args.sid_fake_guidance,
            batch=args.batch,
            sample_every=args.sample_every,
            fp32=args.fp32,
            guidance=args.guidance,
            rank=args.rank,
            threads=args.threads,
            progress=not args.quiet,
            anneal_from=args.anneal_from,
            consistency_fraction=args.consistency_fraction,
        )
        refusal = data_parallel_refusal(options, args.workers)
        if refusal:
            raise ValueError(refusal)
        if args.workers == 1:
            exported = distill(options, run_dir)
        else:
            exported = _distill_on_ray(args, options, run_dir)
    except ValueError as exc:
        print(f"studio distill: {exc}", file=sys.stderr)
        return 2
    for folder in exported:
        print(f"student exported to {folder}")
        if args.install:
            print(f"installed {install_model(folder)}")
    return 0


NO_RAY = "--workers needs Ray: install the cluster extra: pip install '.[cluster]'"


def _distill_on_ray(args: argparse.Namespace, options, run_dir: Path) -> list[Path]:
    """`options.method`'s distillation on `args.workers` Ray Train workers; the students it
    exported."""
    from functools import partial

    from studio.lab.distill_jobs import distill, distill_data, exported_folders

    try:
        from studio.cluster.train import RayRun, RayRunFailed, train_on_ray
    except ImportError as exc:
        raise ValueError(NO_RAY) from exc
    distill_data(run_dir, options.progress)
    run = RayRun(workers=args.workers, address=args.ray_address, storage=run_dir / "ray")
    try:
        train_on_ray(partial(distill, options, run_dir), run_dir / "checkpoint.pt", run)
    except RayRunFailed as exc:
        raise ValueError(str(exc)) from exc
    return exported_folders(options, run_dir)


def _on_ray(args: argparse.Namespace, job, run_dir: Path) -> None:
    """`job(parallel=...)` on `args.workers` Ray Train workers; ValueError in one sentence."""
    try:
        from studio.cluster.train import RayRun, RayRunFailed, train_on_ray
    except ImportError as exc:
        raise ValueError(NO_RAY) from exc
    run = RayRun(workers=args.workers, address=args.ray_address, storage=run_dir / "ray")
    try:
        train_on_ray(lambda parallel: job(parallel=parallel), run_dir / "checkpoint.pt", run)
    except RayRunFailed as exc:
        raise ValueError(str(exc)) from exc


def _rounds(args: argparse.Namespace) -> tuple[int, ...]:
    """Progressive distillation's student steps (the other methods ignore --rounds)."""
    if args.method != "progressive":
        return ()
    return tuple(int(n) for n in args.rounds.split(","))


def cmd_eval(args: argparse.Namespace) -> int:
    from studio.core.atomic import atomic_write_text
    from studio.core.paths import embedded_model_dir
    from studio.lab.cards import measured_section, write_card
    from studio.lab.eval_job import evaluate_models
    from studio.lab.evaluate import right_or_wrong, saved_report

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    batch = None
    try:
        pair = saved_report(args.pair_with, args.pair_row) if args.pair_with else None
        if args.engine:
            from studio.worker.remote_batch import RemoteBatch

            batch = RemoteBatch(args.engine, engine_token(args))
        reports, table = evaluate_models(
            names, limit=args.limit or None, batch=batch, noises=args.noises, paired_with=pair
        )
    except (RuntimeError, ValueError) as exc:
        return fail(str(exc))
    print(table)
    if args.json:
        rows = [{**r.as_dict(), "correct": right_or_wrong(r.correct)} for r in reports]
        if pair is not None:
            source = f"{args.pair_with.name}, row {args.pair_row}"
            rows = [{**row, "paired_with": source} for row in rows]
        atomic_write_text(args.json, json.dumps(rows, indent=2) + "\n")
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
    from studio.lab.emoji_build import build_dataset
    from studio.lab.emoji_dataset import load_dataset
    from studio.lab.guidance_classifier import save, train

    data = load_dataset(build_dataset(progress=not args.quiet))
    run = train(data, args.steps, args.batch, progress=not args.quiet)
    folder = save(run, data, args.out or default_classifier_dir(), args.steps)
    accuracy = ", ".join(f"t={t}: {a:.1%}" for t, a in run.held_out_accuracy.items())
    print(f"{folder}: held-out subgroup accuracy {accuracy} ({run.seconds:.0f} s)")
    return 0


def cmd_amed(args: argparse.Namespace) -> int:
    from studio.engine.amed.fit import FitOptions
    from studio.engine.amed.plan import Variant
    from studio.lab.amed_job import parse_nfe, summary, train_predictors

    nfes = parse_nfe(args.nfe)
    options = FitOptions(
        samples=args.samples, batch_size=args.batch, substeps=args.substeps, epochs=args.epochs
    )
    ref = model_ref(args.model)
    variant = Variant.plugin if args.plugin else Variant.solver
    reports = train_predictors(
        ref,
        nfes,
        options,
        force=args.force,
        device=args.device,
        progress=not args.quiet,
        variant=variant,
    )
    print(summary(reports))
    return 0
