"""Progressive distillation (Salimans & Ho, 2022) of the emoji teacher, guidance folded in.

Each round trains a student to match, in one DDIM step, two DDIM steps of its teacher, then the
student becomes the next teacher and the step count halves: 16 -> 8 -> 4 -> 2 -> 1 by default.
Classifier-free guidance at a fixed scale is folded in by the first round only (Meng et al.,
2023): later teachers are guided students already, and guiding them again would compound it.

The first round may instead match more teacher steps per student step (``first_teacher_steps``,
e.g. a 16-step teacher into a 4-step student), which skips the rounds whose errors compound, as in
TRACT (Berthelot et al., 2023); every later round's teacher is the previous round's student.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from studio.engine.modules import moved
from studio.lab.batch import Batch, batch_rows
from studio.lab.compact import freeze_non_matrices
from studio.lab.data_parallel import ONE_PROCESS, DataParallel
from studio.lab.distill_common import (
    DistillConfig,
    GuidedModel,
    ResumableState,
    VPredictor,
    VpSchedule,
    copy_unet,
    predict_v,
    v_to_x0_eps,
)
from studio.lab.train_teacher import CaptionedImages, LossLog


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgressiveConfig(DistillConfig):
    """Rounds (student step counts) and optimiser steps per round."""

    rounds: tuple[int, ...] = (16, 8, 4, 2, 1)
    steps_per_round: int = 2000
    first_teacher_steps: int = 0

    def __post_init__(self) -> None:
        if not self.rounds or any(n < 1 for n in self.rounds):
            raise ValueError(f"rounds must be positive step counts, got {self.rounds}.")
        for teacher, student in zip(self.teacher_grids(), self.rounds, strict=True):
            if teacher <= student or teacher % student:
                raise ValueError(
                    f"a {student}-step student cannot match a {teacher}-step teacher: the "
                    "teacher's step count must be a larger multiple of the student's."
                )

    def teacher_grids(self) -> tuple[int, ...]:
        """The teacher's step count in each round."""
        first = self.first_teacher_steps or 2 * self.rounds[0]
        return (first, *self.rounds[:-1])


def ddim_step(z, v, a, s, a_next, s_next):
    x0, eps = v_to_x0_eps(z, v, a, s)
    return a_next * x0 + s_next * eps


def progressive_target(
    teacher: VPredictor,
    sched: VpSchedule,
    z: torch.Tensor,
    k: torch.Tensor,
    n: int,
    batch: Batch,
    teacher_steps: int = 0,
) -> torch.Tensor:
    """The x0 that makes one student DDIM step from grid step k land where the teacher does.

    The teacher walks the same interval in ``teacher_steps / n`` DDIM steps of its finer grid
    (two by default, as in progressive distillation).
    """
    m = teacher_steps or 2 * n
    per = m // n
    t_start, t_end = sched.grid(k, n), sched.grid(k - 1, n)
    a, s = sched.coefficients(t_start)
    z_end, t = z, t_start
    for j in range(1, per + 1):
        t_next = sched.grid(k * per - j, m)
        a_t, s_t = sched.coefficients(t)
        a_next, s_next = sched.coefficients(t_next)
        z_end = ddim_step(z_end, teacher.v(z_end, t, batch), a_t, s_t, a_next, s_next)
        t = t_next
    a_end, s_end = sched.coefficients(t_end)
    ratio = s_end / s
    return (z_end - ratio * z) / (a_end - ratio * a)


def progressive_loss(
    student,
    teacher: GuidedModel,
    sched: VpSchedule,
    batch: Batch,
    n: int,
    gen: torch.Generator,
    bf16: bool,
    teacher_steps: int = 0,
    rows: slice = slice(None),
) -> torch.Tensor:
    """The loss of `rows` of `batch`, with the grid steps and noise drawn for the whole batch
    (so that data-parallel workers training disjoint rows together see what one process
    would)."""
    size, device = batch.x0.shape[0], batch.x0.device
    k = torch.randint(1, n + 1, (size,), generator=gen).to(device)[rows]
    noise = torch.randn(batch.x0.shape, generator=gen).to(device)[rows]
    batch = batch_rows(batch, rows)
    t = sched.grid(k, n)
    a, s = sched.coefficients(t)
    z = a * batch.x0 + s * noise
    target = progressive_target(teacher, sched, z, k, n, batch, teacher_steps)
    x0_student, _ = v_to_x0_eps(z, predict_v(student, z, t, batch, bf16), a, s)
    weight = sched.snr(t).clamp(min=1.0)
    return (weight * (x0_student - target).pow(2).mean(dim=(1, 2, 3))).mean()


def lr_in_round(step: int, cfg: ProgressiveConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps_per_round - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


class ProgressiveRun:
    """A resumable chain of progressive-distillation rounds in a run folder (one process, or one
    of the data-parallel workers that `parallel` names: each takes its rows of the same global
    batch, and each round's student is trained through `parallel.wrap`)."""

    def __init__(
        self,
        run_dir: Path,
        data: CaptionedImages,
        teacher: UNet2DConditionModel,
        cfg: ProgressiveConfig,
        parallel: DataParallel = ONE_PROCESS,
    ) -> None:
        self.dir, self.data, self.cfg, self.parallel = run_dir, data, cfg, parallel
        self.rows = parallel.rows(cfg.batch_size)
        self.device = parallel.device
        self.sched = VpSchedule(self.device)
        self.base_teacher = moved(teacher, self.device)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.state = ResumableState(run_dir / "checkpoint.pt")
        self.round, self.step = 0, 0
        self._start_round(resume=True)

    def student_path(self, n: int) -> Path:
        return self.dir / f"student-{n}step.safetensors"

    def _round_teacher(self, previous_student: dict | None) -> UNet2DConditionModel:
        """This round's teacher: the base one, or the previous round's student (the weights
        given, or, resuming, those it saved)."""
        if self.round == 0:
            return self.base_teacher
        previous = copy_unet(self.base_teacher)
        if previous_student is None:
            previous_student = load_file(self._previous_student_path())
        previous.load_state_dict(previous_student)
        return previous

    def _previous_student_path(self) -> Path:
        return self.student_path(self.cfg.rounds[self.round - 1])

    def _start_round(self, resume: bool = False, previous_student: dict | None = None) -> None:
        teacher = self._round_teacher(previous_student)
        # Guidance is folded in once: a later round's teacher is a student that already has it.
        guidance = self.cfg.guidance if self.round == 0 else 1.0
        self.teacher = GuidedModel(teacher, self.data, guidance, self.cfg.bf16)
        self.student = copy_unet(teacher).train()
        freeze_non_matrices(self.student)
        trainable = [p for p in self.student.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(trainable, lr=self.cfg.lr, weight_decay=0.0)
        if resume:
            counters = self.state.restore({"student": self.student, "opt": self.opt}, self.gen)
            if counters and counters["round"] != self.round:
                self.round = counters["round"]
                self._start_round(resume=True)
                return
            if counters:
                self.step = counters["step"]
        self.trained = self.parallel.wrap(self.student)

    def save(self) -> None:
        if self.parallel.writes:
            self.state.save(
                {"student": self.student, "opt": self.opt},
                {"round": self.round, "step": self.step},
                self.cfg,
                self.gen,
            )
        keep = (self._previous_student_path(),) if self.round > 0 else ()
        self.parallel.checkpointed(self.state.path, self.round * 100_000 + self.step, keep)

    def train_step(self) -> float:
        n = self.cfg.rounds[self.round]
        for group in self.opt.param_groups:
            group["lr"] = lr_in_round(self.step, self.cfg)
        batch = self.data.sample(self.cfg.batch_size, 0.0, self.gen, str(self.device))
        loss = progressive_loss(
            self.trained,
            self.teacher,
            self.sched,
            batch,
            n,
            self.gen,
            self.cfg.bf16,
            self.cfg.teacher_grids()[self.round],
            self.rows,
        )
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.opt.param_groups[0]["params"], self.cfg.grad_clip)
        self.opt.step()
        self.step += 1
        return self.parallel.mean(float(loss.detach()))

    def finish_round(self) -> dict[str, torch.Tensor]:
        """The round's student weights, which the writer saves as this round's student file."""
        n = self.cfg.rounds[self.round]
        weights = {k: v.detach().cpu().contiguous() for k, v in self.student.state_dict().items()}
        if self.parallel.writes:
            path = self.student_path(n)
            tmp = path.with_suffix(".tmp")
            save_file(weights, tmp)
            tmp.replace(path)
        return weights

    def run(self, on_round=None, progress: bool = True) -> None:
        """Train the remaining rounds; `on_round(run, n)` after each (on the writer only). A
        worker that does not write shows no bar and logs nothing."""
        writes = self.parallel.writes
        log = LossLog(self.dir / "loss.csv") if writes else None
        started = time.monotonic()
        while self.round < len(self.cfg.rounds):
            n = self.cfg.rounds[self.round]
            bar = tqdm(
                total=self.cfg.steps_per_round,
                initial=self.step,
                disable=not (progress and writes),
                desc=f"progressive {n}-step",
            )
            window: list[float] = []
            while self.step < self.cfg.steps_per_round:
                window.append(self.train_step())
                bar.update()
                if self.step % 50 == 0:
                    if log is not None:
                        log.add(
                            self.round * 100_000 + self.step,
                            sum(window) / len(window),
                            lr_in_round(self.step, self.cfg),
                            time.monotonic() - started,
                        )
                    window = []
                if self.step % self.cfg.checkpoint_every == 0:
                    self.save()
            bar.close()
            student = self.finish_round()
            if on_round and writes:
                on_round(self, n)
            self.round, self.step = self.round + 1, 0
            if self.round < len(self.cfg.rounds):
                self._start_round(previous_student=student)
            self.save()
