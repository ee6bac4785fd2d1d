"""Running a distillation method end to end: data, teacher, resumable run, exported students."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from diffusers import DDIMScheduler, LCMScheduler, UNet2DConditionModel

from studio.core.manifest import AdapterManifest
from studio.engine.emoji_model import SCHEDULE_CONFIG
from studio.lab.cards import compute_from_log
from studio.lab.consistency import ConsistencyConfig, ConsistencyRun
from studio.lab.emoji_data import build_dataset, load_dataset
from studio.lab.export import export_adapter, read_training_record
from studio.lab.progressive import ProgressiveConfig, ProgressiveRun
from studio.lab.sheets import sample_sheet
from studio.lab.train_teacher import captioned_images
from studio.paths import embedded_model_dir

LORA = "pytorch_lora_weights.safetensors"


def load_teacher_unet(name_or_folder: str) -> UNet2DConditionModel:
    folder = Path(name_or_folder)
    if not folder.is_dir():
        folder = embedded_model_dir(name_or_folder)
    unet = UNet2DConditionModel.from_pretrained(folder / "unet", use_safetensors=True)
    return unet.to(torch.float32).eval().requires_grad_(False)


def progressive_manifest(steps: int, base: str) -> AdapterManifest:
    return AdapterManifest(
        base=base,
        lora=LORA,
        method="progressive distillation",
        guidance_distilled=True,
        sampler="DDIM trailing",
        num_inference_steps=steps,
        guidance_scale=1.0,
    )


def consistency_manifest(base: str) -> AdapterManifest:
    return AdapterManifest(
        base=base,
        lora=LORA,
        method="consistency distillation (LCM)",
        guidance_distilled=True,
        sampler="LCM",
        num_inference_steps=4,
        guidance_scale=1.0,
    )


def _base_name(teacher: str) -> str:
    return Path(teacher).name if Path(teacher).is_dir() else teacher


def _teacher_folder(teacher: str) -> Path:
    return Path(teacher) if Path(teacher).is_dir() else embedded_model_dir(teacher)


def training_record(run_dir: Path, teacher: str, steps: int) -> dict:
    """Optimiser steps and hours of a distillation run so far, and the teacher step it began at."""
    compute = compute_from_log(run_dir / "loss.csv")
    record = {"step": steps, "hours": round(compute.hours, 2)}
    teacher_step = read_training_record(_teacher_folder(teacher)).get("step")
    return record if teacher_step is None else {**record, "teacher_step": teacher_step}


def distill(args: argparse.Namespace, run_dir: Path) -> list[Path]:
    if args.threads:
        torch.set_num_threads(args.threads)
    data = captioned_images(
        load_dataset(build_dataset(progress=not args.quiet)), run_dir.parent / "text-cache"
    )
    teacher = load_teacher_unet(args.teacher)
    if args.method == "progressive":
        return _progressive(args, run_dir, data, teacher)
    return _consistency(args, run_dir, data, teacher)


def _progressive(args, run_dir: Path, data, teacher) -> list[Path]:
    rounds = tuple(int(n) for n in args.rounds.split(","))
    cfg = ProgressiveConfig(
        rounds=rounds,
        steps_per_round=args.steps_per_round,
        guidance=args.guidance,
        first_teacher_steps=args.first_teacher_steps,
    )
    base = _base_name(args.teacher)
    exported: dict[int, Path] = {}

    def on_round(run: ProgressiveRun, n: int) -> None:
        folder = run_dir / "export" / f"emoji-student-{n}step"
        exported[n] = export_adapter(
            teacher,
            run.student,
            folder,
            progressive_manifest(n, base),
            args.rank,
            training_record(run_dir, args.teacher, (run.round + 1) * cfg.steps_per_round),
        )
        scheduler = DDIMScheduler(**SCHEDULE_CONFIG)
        sample_sheet(
            run.student,
            run_dir / "samples" / f"student-{n}step.png",
            steps=n,
            guidance=1.0,
            scheduler=scheduler,
        )

    ProgressiveRun(run_dir, data, teacher, cfg).run(on_round=on_round, progress=not args.quiet)
    return [exported[n] for n in rounds if n in exported]


def _consistency(args, run_dir: Path, data, teacher) -> list[Path]:
    cfg = ConsistencyConfig(steps=args.steps, guidance=args.guidance)
    folder = run_dir / "export" / "emoji-student-lcm"
    base = _base_name(args.teacher)

    def on_sample(run: ConsistencyRun) -> None:
        export_adapter(
            teacher,
            run.student,
            folder,
            consistency_manifest(base),
            args.rank,
            training_record(run_dir, args.teacher, run.step),
        )
        scheduler = LCMScheduler(**SCHEDULE_CONFIG)
        sample_sheet(
            run.student,
            run_dir / "samples" / f"lcm-{run.step:06d}.png",
            steps=4,
            guidance=1.0,
            scheduler=scheduler,
        )

    ConsistencyRun(run_dir, data, teacher, cfg).run(on_sample=on_sample, progress=not args.quiet)
    return [folder]
