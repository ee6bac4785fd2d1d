"""Running a distillation method end to end: data, teacher, resumable run, exported students."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from diffusers import DDIMScheduler, LCMScheduler, UNet2DConditionModel

from studio.core.atomic import atomic_write_text
from studio.core.manifest import AdapterManifest, read_manifest
from studio.core.paths import embedded_model_dir
from studio.core.shortcut import SHORTCUT_METHOD, SHORTCUT_STEP_COUNTS
from studio.engine.emoji_model import SCHEDULE_CONFIG
from studio.lab.cards import (
    DEFAULT_FOLDED_GUIDANCE,
    chained_device,
    compute_from_log,
    device_line,
)
from studio.lab.compact import fuse_lora
from studio.lab.consistency import ConsistencyConfig, ConsistencyRun
from studio.lab.data_parallel import ONE_PROCESS, DataParallel
from studio.lab.distill_common import copy_unet
from studio.lab.emoji_build import build_dataset
from studio.lab.emoji_dataset import load_dataset
from studio.lab.export import export_adapter, export_pipeline, read_training_record
from studio.lab.progressive import ProgressiveConfig, ProgressiveRun
from studio.lab.sheets import sample_sheet
from studio.lab.shortcut import ShortcutConfig, ShortcutRun, shortcut_parts
from studio.lab.sid import SidConfig, SidRun
from studio.lab.train_teacher import CaptionedImages, captioned_images

LORA = "pytorch_lora_weights.safetensors"
SID_INIT = "emoji-student-1step"
"""Where a SiD generator starts unless --init says otherwise (why: studio.lab.sid)."""
START_RECORD = "start-record.json"
RUN_DEVICES = "devices.txt"
DATA_PARALLEL_METHODS = ("progressive", "consistency", "sid", "shortcut")


@dataclass(frozen=True, slots=True, kw_only=True)
class DistillOptions:
    """What one distillation run is asked for: the method, the teacher and the settings each
    method reads (`rounds` only progressive's, `sid_*` only SiD's), as `studio distill` passes
    them."""

    method: str
    teacher: str
    rounds: tuple[int, ...]
    steps_per_round: int
    first_teacher_steps: int
    steps: int
    init: str
    sid_alpha: float
    sid_t_max: float
    sid_lr: float
    batch: int
    sample_every: int
    fp32: bool
    guidance: float | None
    rank: int
    threads: int
    progress: bool
    anneal_from: int = 0
    consistency_fraction: float | None = None
    sid_fake_warmup: int = 0
    sid_fake_guidance: float = 1.0


def load_teacher_unet(folder: Path) -> UNet2DConditionModel:
    unet = UNet2DConditionModel.from_pretrained(folder / "unet", use_safetensors=True)
    return unet.to(torch.float32).eval().requires_grad_(False)


@dataclass(frozen=True, slots=True)
class Teacher:
    """What a distillation starts from: the UNet to distil (a pipeline's, or a student adapter
    fused onto its base), the root pipeline's UNet and name (exported students are adapters on
    it), and whether classifier-free guidance is folded in already."""

    start: UNet2DConditionModel
    root: UNet2DConditionModel
    root_name: str
    guidance_distilled: bool


def load_teacher(name_or_folder: str) -> Teacher:
    folder = _teacher_folder(name_or_folder)
    manifest = read_manifest(folder)
    if manifest is None:
        unet = load_teacher_unet(folder)
        return Teacher(unet, unet, _base_name(name_or_folder), False)
    sibling = folder.parent / manifest.base
    base = load_teacher(str(sibling) if sibling.is_dir() else manifest.base)
    start = fuse_lora(copy_unet(base.start), folder / manifest.lora)
    distilled = base.guidance_distilled or manifest.guidance_distilled
    return Teacher(start, base.root, base.root_name, distilled)


def folded_guidance(teacher: Teacher, asked: float | None) -> float:
    """The CFG scale to fold in: 3 by default, and none again into a guidance-distilled student."""
    if not teacher.guidance_distilled:
        return DEFAULT_FOLDED_GUIDANCE if asked is None else asked
    if asked not in (None, 1.0):
        raise ValueError(
            f"this teacher already has guidance folded in, so --guidance {asked:g} would apply it "
            "twice: leave --guidance out (or pass 1)."
        )
    return 1.0


def progressive_method(teacher_steps: int, steps: int) -> str:
    """How a progressive round is named: plain halving, or a TRACT-style round over more steps."""
    plural = "step" if steps == 1 else "steps"
    if teacher_steps == 2 * steps:
        return f"progressive distillation ({teacher_steps} → {steps} {plural})"
    return (
        f"progressive distillation, one TRACT-style round ({teacher_steps} → {steps} {plural}: "
        f"each student step matched to {teacher_steps // steps} teacher steps)"
    )


def student_manifest(base: str, method: str, sampler: str, steps: int) -> AdapterManifest:
    """A guidance-distilled LoRA student's manifest: sampled at CFG 1 with its own recipe."""
    return AdapterManifest(
        base=base,
        lora=LORA,
        method=method,
        guidance_distilled=True,
        sampler=sampler,
        num_inference_steps=steps,
        guidance_scale=1.0,
    )


def progressive_manifest(steps: int, base: str, teacher_steps: int = 0) -> AdapterManifest:
    method = progressive_method(teacher_steps or 2 * steps, steps)
    return student_manifest(base, method, "DDIM trailing", steps)


def consistency_manifest(base: str) -> AdapterManifest:
    # Measured on the embedded LCM student: 2 steps beat 4 (56.1% vs 52.8% subgroup accuracy,
    # FD 12.1 vs 12.0, SSIM to the teacher 0.73 vs 0.57). Why is open: each LCM step
    # re-noises, but that student also stopped early and ships rank-32 (see its card).
    return student_manifest(base, "consistency distillation (LCM)", "LCM", 2)


def sid_manifest(base: str) -> AdapterManifest:
    return student_manifest(base, "score identity distillation (SiD)", "DDIM trailing", 1)


def _base_name(teacher: str) -> str:
    return Path(teacher).name if Path(teacher).is_dir() else teacher


def _teacher_folder(teacher: str) -> Path:
    return Path(teacher) if Path(teacher).is_dir() else embedded_model_dir(teacher)


def training_record(
    run_dir: Path,
    teacher: str,
    steps: int,
    bf16: bool = True,
    start: str = "",
    log: str = "loss.csv",
) -> dict:
    """Optimiser steps and wall-clock hours of a distillation run so far, and the teacher step it
    began at. A run that continues a model's training (from a student as its teacher, or from
    `start`, a model of the same method trained further) records this run's own figures
    (`run_step`, `run_hours`, `from`) beside the chain's totals (`step`, `hours`: that model's
    plus these). The hours come from `log`, a loss log with a row every 50 steps."""
    compute = compute_from_log(run_dir / log)
    folder = _teacher_folder(teacher)
    chained = _teacher_folder(start) if start else folder
    before = start_record(run_dir, chained)
    device = run_devices(run_dir, device_line(bf16))
    if not start and read_manifest(folder) is None:
        record = {"step": steps, "hours": round(compute.hours, 2), "device": device}
        return record if before.get("step") is None else {**record, "teacher_step": before["step"]}
    record = {
        "step": steps + int(before.get("step", 0)),
        "hours": round(compute.hours + float(before.get("hours", 0.0)), 2),
        "run_step": steps,
        "run_hours": round(compute.hours, 2),
        "from": chained.name,
        "device": chained_device(before.get("device"), device),
    }
    return (
        record
        if "teacher_step" not in before
        else {**record, "teacher_step": before["teacher_step"]}
    )


def start_record(run_dir: Path, source: Path) -> dict:
    """The training record of the model a run starts from, as it was when the run began: kept
    in the run folder, so that a resumed run counts its chain from the same start even after
    that model was replaced (say, by weights this very run exported and someone shipped)."""
    path = run_dir / START_RECORD
    if path.is_file():
        return dict(json.loads(path.read_text())["record"])
    record = read_training_record(source)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"from": str(source), "record": record}, indent=2))
    return record


def guidance_record(guidance: float, before: dict | None) -> dict:
    """The CFG scale a run folds in and, for a run continuing a model (`before`: its record)
    trained at another scale, the chain's scales in order ("3 to step 21,500, then 4.5"); a
    record without a scale was trained at the default."""
    if before is None:
        return {"guidance": guidance}
    earlier = float(before.get("guidance", DEFAULT_FOLDED_GUIDANCE))
    chain = before.get("guidance_chain")
    if guidance != earlier:
        step = int(before.get("step", 0))
        chain = f"{chain or f'{earlier:g}'} to step {step:,}, then {guidance:g}"
    record: dict = {"guidance": guidance}
    return record if chain is None else {**record, "guidance_chain": chain}


def run_devices(run_dir: Path, now: str) -> str:
    """The devices this run has trained on, across its resumed sessions, `now` added: kept in
    the run folder, since a resumed run may have another thread count or another machine."""
    path = run_dir / RUN_DEVICES
    before = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    devices = chained_device(before, now)
    if devices != before:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, devices + "\n")
    return devices


def chain_source(options: DistillOptions) -> Path:
    """The model whose training record a run's record continues (see `training_record`)."""
    if options.method == "sid":
        return _teacher_folder(options.init or SID_INIT)
    return _teacher_folder(options.init or options.teacher)


def option_refusal(options: DistillOptions) -> str:
    """Why `--init`, `--anneal-from`, `--consistency-fraction` or a `--sid-…` option cannot
    apply to `options`, or ""."""
    if options.init and options.method not in ("sid", "shortcut"):
        return f"--init starts a sid or shortcut run, not a {options.method} one."
    if options.sid_fake_warmup and options.method != "sid":
        return f"--sid-fake-warmup warms a sid run's fake denoiser, not a {options.method} run's."
    if options.sid_fake_guidance != 1 and options.method != "sid":
        return (
            f"--sid-fake-guidance guides a sid run's fake denoiser, not a {options.method} run's."
        )
    if options.method == "shortcut":
        try:
            shortcut_config(options, guidance=1.0)
        except ValueError as exc:
            return str(exc)
        return ""
    if options.anneal_from:
        return f"--anneal-from decays a shortcut run's learning rate, not a {options.method} one's."
    if options.consistency_fraction is not None:
        return (
            f"--consistency-fraction splits a shortcut run's batch, not a {options.method} one's."
        )
    if options.method == "sid":
        try:
            sid_config(options, guidance=1.0)
        except ValueError as exc:
            return str(exc)
    return ""


def data_parallel_refusal(options: DistillOptions, workers: int) -> str:
    """Why `options` cannot train on `workers` data-parallel workers, or "" when it can."""
    if workers == 1:
        return ""
    if workers < 1:
        return f"--workers must be at least 1, got {workers}."
    if options.method not in DATA_PARALLEL_METHODS:
        return (
            f"--workers {workers} trains {', '.join(DATA_PARALLEL_METHODS)} distillation only; "
            f"{options.method} runs on one worker (leave --workers out)."
        )
    parts = batch_parts(options)
    if any(part % workers for part in parts):
        *most, last = [
            str(n) for n in range(1, min(parts) + 1) if all(part % n == 0 for part in parts)
        ]
        fits = f"{', '.join(most)} or {last}" if most else last
        size = sum(parts)
        split = "" if len(parts) == 1 else f" ({' and '.join(map(str, parts))} rows per term)"
        return (
            f"--workers {workers} does not split {options.method} distillation's batch of "
            f"{size}{split} evenly: pick {fits} workers."
        )
    return ""


def batch_parts(options: DistillOptions) -> tuple[int, ...]:
    """The parts of `options.method`'s global batch that data-parallel workers share out
    evenly: the whole batch, or a shortcut model's self-consistency and anchor rows."""
    if options.method == "progressive":
        return (ProgressiveConfig().batch_size,)
    if options.method == "sid":
        return (options.batch,)
    if options.method == "shortcut":
        return shortcut_parts(ShortcutConfig(batch_size=options.batch))
    return (ConsistencyConfig().batch_size,)


def distill_data(run_dir: Path, progress: bool) -> CaptionedImages:
    """The captioned training images, built and their captions encoded on first use (cached)."""
    return captioned_images(
        load_dataset(build_dataset(progress=progress)), run_dir.parent / "text-cache"
    )


def consistency_folder(run_dir: Path) -> Path:
    return run_dir / "export" / "emoji-student-lcm"


def progressive_folder(run_dir: Path, steps: int) -> Path:
    return run_dir / "export" / f"emoji-student-{steps}step"


def sid_folder(run_dir: Path) -> Path:
    return run_dir / "export" / "emoji-student-sid"


def shortcut_folder(run_dir: Path) -> Path:
    return run_dir / "export" / "emoji-shortcut"


def exported_folders(options: DistillOptions, run_dir: Path) -> list[Path]:
    """The student folders a finished run of `options.method` in `run_dir` has exported."""
    if options.method == "progressive":
        return [progressive_folder(run_dir, n) for n in options.rounds]
    if options.method == "sid":
        return [sid_folder(run_dir)]
    if options.method == "shortcut":
        return [shortcut_folder(run_dir)]
    return [consistency_folder(run_dir)]


def distill(
    options: DistillOptions, run_dir: Path, parallel: DataParallel = ONE_PROCESS
) -> list[Path]:
    """Run `options.method` from `options.teacher` in `run_dir` (resuming what is there) and
    return the exported student folders; `parallel` is this process's part in a data-parallel
    run (only its writer exports)."""
    refusal = data_parallel_refusal(options, parallel.count) or option_refusal(options)
    if refusal:
        raise ValueError(refusal)
    if options.threads:
        torch.set_num_threads(options.threads)
    data = distill_data(run_dir, options.progress)
    if parallel.writes:
        start_record(run_dir, chain_source(options))
        run_devices(run_dir, device_line(options.method != "sid" or not options.fp32))
    teacher = load_teacher(options.teacher)
    guidance = folded_guidance(teacher, options.guidance)
    if options.method == "progressive":
        return _progressive(options, run_dir, data, teacher, guidance, parallel)
    if options.method == "sid":
        return _sid(options, run_dir, data, teacher, guidance, parallel)
    if options.method == "shortcut":
        return _shortcut(options, run_dir, data, teacher, guidance, parallel)
    return _consistency(options, run_dir, data, teacher, guidance, parallel)


def _progressive(
    options: DistillOptions,
    run_dir: Path,
    data,
    teacher: Teacher,
    guidance: float,
    parallel: DataParallel = ONE_PROCESS,
) -> list[Path]:
    rounds = options.rounds
    cfg = ProgressiveConfig(
        rounds=rounds,
        steps_per_round=options.steps_per_round,
        guidance=guidance,
        first_teacher_steps=options.first_teacher_steps,
    )
    base = teacher.root_name
    exported: dict[int, Path] = {}

    def on_round(run: ProgressiveRun, n: int) -> None:
        folder = progressive_folder(run_dir, n)
        exported[n] = export_adapter(
            teacher.root,
            run.student,
            folder,
            progressive_manifest(n, base, cfg.teacher_grids()[run.round]),
            options.rank,
            training_record(run_dir, options.teacher, (run.round + 1) * cfg.steps_per_round),
        )
        scheduler = DDIMScheduler(**SCHEDULE_CONFIG)
        sample_sheet(
            run.student,
            run_dir / "samples" / f"student-{n}step.png",
            steps=n,
            guidance=1.0,
            scheduler=scheduler,
        )

    ProgressiveRun(run_dir, data, teacher.start, cfg, parallel).run(
        on_round=on_round, progress=options.progress
    )
    return [exported[n] for n in rounds if n in exported]


def _consistency(
    options: DistillOptions,
    run_dir: Path,
    data,
    teacher: Teacher,
    guidance: float,
    parallel: DataParallel = ONE_PROCESS,
) -> list[Path]:
    cfg = ConsistencyConfig(steps=options.steps, guidance=guidance)
    folder = consistency_folder(run_dir)
    base = teacher.root_name

    def on_sample(run: ConsistencyRun) -> None:
        export_adapter(
            teacher.root,
            run.student,
            folder,
            consistency_manifest(base),
            options.rank,
            training_record(run_dir, options.teacher, run.step),
        )
        scheduler = LCMScheduler(**SCHEDULE_CONFIG)
        sample_sheet(
            run.student,
            run_dir / "samples" / f"lcm-{run.step:06d}.png",
            steps=4,
            guidance=1.0,
            scheduler=scheduler,
        )

    ConsistencyRun(run_dir, data, teacher.start, cfg, parallel).run(
        on_sample=on_sample, progress=options.progress
    )
    return [folder]


def sid_config(options: DistillOptions, guidance: float) -> SidConfig:
    return SidConfig(
        steps=options.steps,
        guidance=guidance,
        alpha=options.sid_alpha,
        t_max=options.sid_t_max,
        generator_lr=options.sid_lr,
        fake_lr=options.sid_lr,
        fake_warmup=options.sid_fake_warmup,
        fake_guidance=options.sid_fake_guidance,
        batch_size=options.batch,
        init=options.init or SID_INIT,
        bf16=not options.fp32,
        sample_every=options.sample_every,
    )


def _sid(
    options: DistillOptions,
    run_dir: Path,
    data,
    teacher: Teacher,
    guidance: float,
    parallel: DataParallel = ONE_PROCESS,
) -> list[Path]:
    if teacher.guidance_distilled:
        raise ValueError(
            "SiD needs the real (unguided) teacher as its frozen score: pass a pipeline as "
            "--teacher and the student to start the generator from as --init."
        )
    cfg = sid_config(options, guidance)
    init = load_teacher(cfg.init).start
    folder = sid_folder(run_dir)
    base = teacher.root_name

    def on_sample(run: SidRun) -> None:
        export_adapter(
            teacher.root,
            run.generator_ema,
            folder,
            sid_manifest(base),
            options.rank,
            {
                # The fake denoiser's log has every window; the generator's skips its warm-up.
                **training_record(run_dir, cfg.init, run.step, cfg.bf16, log="fake-loss.csv"),
                **sid_record(cfg),
            },
        )
        sample_sheet(
            run.generator_ema,
            run_dir / "samples" / f"sid-{run.step:06d}.png",
            steps=1,
            guidance=1.0,
            scheduler=DDIMScheduler(**SCHEDULE_CONFIG),
        )

    SidRun(run_dir, data, teacher.start, init, cfg, parallel).run(
        on_sample=on_sample, progress=options.progress
    )
    return [folder]


def sid_record(cfg: SidConfig) -> dict:
    """The SiD options a training record keeps, so a card can say how the student was made."""
    return {
        "sid": {
            "alpha": cfg.alpha,
            "t_max": cfg.t_max,
            "weighting": cfg.weighting,
            "guidance": cfg.guidance,
            "generator_init": cfg.init,
            "generator_lr": cfg.generator_lr,
            "fake_lr": cfg.fake_lr,
            "fake_warmup": cfg.fake_warmup,
            "fake_guidance": cfg.fake_guidance,
            "batch_size": cfg.batch_size,
            "bf16": cfg.bf16,
        }
    }


def shortcut_config(options: DistillOptions, guidance: float) -> ShortcutConfig:
    """The shortcut run `options` ask for; ValueError in one sentence for a bad setting."""
    cfg = ShortcutConfig(
        steps=options.steps,
        guidance=guidance,
        batch_size=options.batch,
        sample_every=options.sample_every,
        anneal_from=options.anneal_from,
    )
    if options.consistency_fraction is None:
        return cfg
    return replace(cfg, consistency_fraction=options.consistency_fraction)


def _shortcut(
    options: DistillOptions,
    run_dir: Path,
    data,
    teacher: Teacher,
    guidance: float,
    parallel: DataParallel = ONE_PROCESS,
) -> list[Path]:
    if teacher.guidance_distilled:
        raise ValueError(
            "a shortcut model is anchored on the teacher's instantaneous prediction: pass a "
            "pipeline as --teacher, not a student."
        )
    cfg = shortcut_config(options, guidance)
    folder = shortcut_folder(run_dir)
    init = load_teacher_unet(_teacher_folder(options.init)) if options.init else None

    def on_sample(run: ShortcutRun) -> None:
        record = training_record(run_dir, options.teacher, run.step, start=options.init)
        before = start_record(run_dir, chain_source(options)) if options.init else None
        shortcut = {
            "method": SHORTCUT_METHOD,
            "step_counts": list(SHORTCUT_STEP_COUNTS),
            "consistency_fraction": cfg.consistency_fraction,
            **guidance_record(cfg.guidance, before),
        }
        if cfg.anneal_from:
            shortcut["lr_schedule"] = (
                f"{cfg.lr:g}, decayed linearly to 0 from run step {cfg.anneal_from} to {cfg.steps}"
            )
        export_pipeline(run.ema, folder, training={**record, **shortcut})
        for steps in (1, 4, 16):
            sample_sheet(
                run.ema,
                run_dir / "samples" / f"shortcut-{run.step:06d}-{steps}step.png",
                steps=steps,
                guidance=1.0,
                scheduler=DDIMScheduler(**SCHEDULE_CONFIG),
            )

    ShortcutRun(run_dir, data, teacher.start, cfg, parallel, init).run(
        on_sample=on_sample, progress=options.progress
    )
    return [folder]
