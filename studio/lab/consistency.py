"""Latent-consistency-style distillation (Song et al. 2023; Luo et al. 2023) of the emoji teacher.

The student f(x, t) = c_skip(t) x + c_out(t) x0_theta(x, t) is trained so that its output at
t_{n+1} matches an EMA copy's output at t_n, where x_{t_n} is one guided DDIM step of the teacher
from x_{t_{n+1}} on a 50-step grid. diffusers' LCMScheduler samples the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel

from studio.engine.modules import moved
from studio.lab.batch import Batch, batch_rows
from studio.lab.compact import freeze_non_matrices
from studio.lab.data_parallel import ONE_PROCESS, DataParallel
from studio.lab.distill_common import (
    DistillConfig,
    GuidedModel,
    ResumableState,
    VpSchedule,
    copy_unet,
    predict_v,
    run_steps,
    v_to_x0_eps,
)
from studio.lab.train_teacher import CaptionedImages, ema_update


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsistencyConfig(DistillConfig):
    """Grid size, target EMA, Huber constant and length of a consistency run."""

    steps: int = 6000
    solver_steps: int = 50
    target_decay: float = 0.95
    huber_c: float = 0.001
    timestep_scaling: float = 10.0
    sigma_data: float = 0.5


def boundary_scalings(t: torch.Tensor, cfg: ConsistencyConfig):
    """LCM's c_skip and c_out (as in diffusers' LCMScheduler), shaped (n, 1, 1, 1)."""
    scaled = t.clamp(min=0).float() * cfg.timestep_scaling
    c_skip = cfg.sigma_data**2 / (scaled**2 + cfg.sigma_data**2)
    c_out = scaled / (scaled**2 + cfg.sigma_data**2).sqrt()
    return c_skip.view(-1, 1, 1, 1), c_out.view(-1, 1, 1, 1)


def consistency_fn(unet, z, t, batch: Batch, sched: VpSchedule, cfg: ConsistencyConfig):
    a, s = sched.coefficients(t)
    x0, _ = v_to_x0_eps(z, predict_v(unet, z, t, batch, cfg.bf16), a, s)
    c_skip, c_out = boundary_scalings(t, cfg)
    return c_skip * z + c_out * x0


def consistency_loss(
    student,
    target_net,
    teacher: GuidedModel,
    sched: VpSchedule,
    batch: Batch,
    gen: torch.Generator,
    cfg: ConsistencyConfig,
    rows: slice = slice(None),
) -> torch.Tensor:
    """The loss of `rows` of `batch`, with the timesteps and noise drawn for the whole batch
    (so that workers training disjoint rows together see what one process would)."""
    size, device = batch.x0.shape[0], batch.x0.device
    ratio = sched.steps // cfg.solver_steps
    n = torch.randint(0, cfg.solver_steps, (size,), generator=gen).to(device)[rows]
    noise = torch.randn(batch.x0.shape, generator=gen).to(device)[rows]
    batch = batch_rows(batch, rows)
    t_start = (n + 1) * ratio - 1
    t_prev = (t_start - ratio).clamp(min=0)
    a, s = sched.coefficients(t_start)
    z = a * batch.x0 + s * noise
    prediction = consistency_fn(student, z, t_start, batch, sched, cfg)
    with torch.no_grad():
        x0, eps = v_to_x0_eps(z, teacher.v(z, t_start, batch), a, s)
        a_prev, s_prev = sched.coefficients(t_prev)
        z_prev = a_prev * x0 + s_prev * eps
        target = consistency_fn(target_net, z_prev, t_prev, batch, sched, cfg)
    diff = (prediction - target).pow(2).mean(dim=(1, 2, 3))
    return (torch.sqrt(diff + cfg.huber_c**2) - cfg.huber_c).mean()


class ConsistencyRun:
    """A resumable consistency-distillation run in a run folder (one process, or one of the
    data-parallel workers that `parallel` names)."""

    def __init__(
        self,
        run_dir: Path,
        data: CaptionedImages,
        teacher: UNet2DConditionModel,
        cfg: ConsistencyConfig,
        parallel: DataParallel = ONE_PROCESS,
    ) -> None:
        self.dir, self.data, self.cfg, self.parallel = run_dir, data, cfg, parallel
        self.rows = parallel.rows(cfg.batch_size)
        self.device = parallel.device
        self.sched = VpSchedule(self.device)
        teacher = moved(teacher, self.device)
        self.teacher = GuidedModel(teacher, data, cfg.guidance, cfg.bf16)
        self.student = copy_unet(teacher).train()
        freeze_non_matrices(self.student)
        self.target = copy_unet(teacher).eval().requires_grad_(False)
        trainable = [p for p in self.student.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=0.0)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.state = ResumableState(run_dir / "checkpoint.pt")
        counters = self.state.restore(self._modules(), self.gen)
        self.step = counters["step"] if counters else 0
        self.trained = parallel.wrap(self.student)

    def _modules(self) -> dict:
        return {"student": self.student, "target": self.target, "opt": self.opt}

    def save(self) -> None:
        if self.parallel.writes:
            self.state.save(self._modules(), {"step": self.step}, self.cfg, self.gen)
        self.parallel.checkpointed(self.state.path, self.step)

    def train_step(self) -> float:
        for group in self.opt.param_groups:
            group["lr"] = self.cfg.lr * min(1.0, (self.step + 1) / self.cfg.warmup)
        batch = self.data.sample(self.cfg.batch_size, 0.0, self.gen, str(self.device))
        loss = consistency_loss(
            self.trained,
            self.target,
            self.teacher,
            self.sched,
            batch,
            self.gen,
            self.cfg,
            self.rows,
        )
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.opt.param_groups[0]["params"], self.cfg.grad_clip)
        self.opt.step()
        ema_update(self.target, self.student, self.cfg.target_decay)
        self.step += 1
        return self.parallel.mean(float(loss.detach()))

    def run(self, on_sample=None, progress: bool = True) -> None:
        logs = {"loss.csv": self.cfg.lr}
        run_steps(self, "consistency", logs, on_sample, progress, self.parallel.writes)
