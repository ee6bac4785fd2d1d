"""Shortcut-model distillation (Frans et al., 2024) of the emoji teacher: one network, 1-128 steps.

The parameterisation. The teacher predicts v on a variance-preserving, zero-terminal-SNR schedule,
``z_t = a_t x + s_t eps``. In rectified-flow coordinates ``y = z_t / (a_t + s_t)``,
``tau = s_t / (a_t + s_t)``, the path is the straight line ``y = (1 - tau) x + tau eps`` and an
Euler step of the flow ``dy/dtau = eps - x`` from tau to tau' lands on
``(1 - tau') x0_hat + tau' eps_hat``, which is exactly a DDIM (eta 0) step with the same x0 / eps
prediction. So the shortcut model keeps the teacher's v output and its DDIM sampler, and only
gains the step size ``d`` as an input (studio.engine.shortcut_model): an M-step trailing schedule
asks for ``d = 1/M`` at every step, and the flow-matching velocity at d = 0 is the teacher's.

The objective, per batch:
- **anchor** (the flow-matching term): at d = 0 the model predicts the guided teacher's v at a
  noised training image (classifier-free guidance folded in, as the other students), MSE in v;
- **self-consistency**: for a level M drawn from 1, 2, 4, ..., 128 (d = 1/M), at grid step k of
  the M-step grid, the target is where two steps of size d/2 of the model's EMA land (the
  2M-step grid; for M = 128 the half steps use d = 0), and the loss is the progressive-
  distillation x0 error of ONE step of size d that should land there, weighted by max(SNR, 1).
  No gradient flows through the target.
The model starts as the teacher exactly (the step-size projection is zero), so at step 0 every
level samples like the teacher with DDIM; or, to train a shipped shortcut model further (a run
on another machine, a later session), from that model's weights, which then start the EMA too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel

from studio.engine.modules import moved
from studio.engine.shortcut_model import (
    STEP_COUNTS,
    is_shortcut,
    shortcut_unet_from,
    step_condition,
)
from studio.lab.batch import Batch, batch_rows
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
from studio.lab.progressive import progressive_target
from studio.lab.train_teacher import CaptionedImages, ema_update


@dataclass(frozen=True, slots=True, kw_only=True)
class ShortcutConfig(DistillConfig):
    """Length of a run, the share of the batch for self-consistency, the target EMA and the
    learning rate's schedule: warm-up, constant, and from `anneal_from` (a run step; 0: never)
    a linear decay to zero at the last step, which lets a run that has stopped improving at a
    constant rate settle."""

    steps: int = 12_000
    consistency_fraction: float = 0.5
    ema_decay: float = 0.999
    anchor_weight: float = 1.0
    anneal_from: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.consistency_fraction < 1:
            raise ValueError(
                "consistency_fraction (the batch's share for self-consistency) must lie strictly "
                f"between 0 and 1, not {self.consistency_fraction}."
            )
        if not 0 <= self.anneal_from < self.steps:
            raise ValueError(
                "The learning rate's decay must start before the last step: at a run step from "
                f"0 to {self.steps - 1}, not {self.anneal_from}."
            )

    def lr_at(self, step: int) -> float:
        """The learning rate of update `step` (0-based) of this run."""
        rate = self.lr * min(1.0, (step + 1) / self.warmup)
        if self.anneal_from and step >= self.anneal_from:
            rate *= (self.steps - step) / (self.steps - self.anneal_from)
        return rate


def predict_v_at(unet, z, t, batch: Batch, steps: int, bf16: bool) -> torch.Tensor:
    """v of a shortcut UNet asked for a step of size 1/steps (steps = 0: d = 0)."""
    cond = step_condition(steps, z.shape[0], z.device, z.dtype)
    return predict_v(unet, z, t, batch, bf16, cond)


class AtStepSize:
    """A shortcut UNet at one fixed step size, with the `.v` that progressive_target walks."""

    def __init__(self, unet, steps: int, bf16: bool) -> None:
        self.unet, self.steps, self.bf16 = unet, steps, bf16

    @torch.no_grad()
    def v(self, z: torch.Tensor, t: torch.Tensor, batch: Batch) -> torch.Tensor:
        return predict_v_at(self.unet, z, t, batch, self.steps, self.bf16)


def _split(batch: Batch, n: int) -> tuple[Batch, Batch]:
    def part(sl: slice) -> Batch:
        return Batch(batch.x0[sl], batch.states[sl], batch.mask[sl], batch.pooled[sl])

    return part(slice(0, n)), part(slice(n, None))


def anchor_loss(
    model,
    teacher: GuidedModel,
    sched: VpSchedule,
    batch: Batch,
    gen,
    bf16: bool,
    rows: slice = slice(None),
):
    """The flow-matching term on `rows` of `batch`, with the timesteps and noise drawn for the
    whole batch (so that data-parallel workers see what one process would)."""
    size, device = batch.x0.shape[0], batch.x0.device
    t = torch.randint(0, sched.steps, (size,), generator=gen).to(device)[rows]
    noise = torch.randn(batch.x0.shape, generator=gen).to(device)[rows]
    batch = batch_rows(batch, rows)
    a, s = sched.coefficients(t)
    z = a * batch.x0 + s * noise
    target = teacher.v(z, t, batch)
    return (predict_v_at(model, z, t, batch, 0, bf16) - target).pow(2).mean()


def consistency_loss(
    model,
    ema,
    sched: VpSchedule,
    batch: Batch,
    level: int,
    gen,
    bf16: bool,
    rows: slice = slice(None),
) -> torch.Tensor:
    """One step of size 1/level against two EMA steps of half that size (d = 0 past 128), on
    `rows` of `batch` (the grid steps and noise drawn for the whole batch)."""
    size, device = batch.x0.shape[0], batch.x0.device
    k = torch.randint(1, level + 1, (size,), generator=gen).to(device)[rows]
    noise = torch.randn(batch.x0.shape, generator=gen).to(device)[rows]
    batch = batch_rows(batch, rows)
    t = sched.grid(k, level)
    a, s = sched.coefficients(t)
    z = a * batch.x0 + s * noise
    half = 2 * level if 2 * level in STEP_COUNTS else 0
    target = progressive_target(AtStepSize(ema, half, bf16), sched, z, k, level, batch)
    x0, _ = v_to_x0_eps(z, predict_v_at(model, z, t, batch, level, bf16), a, s)
    weight = sched.snr(t).clamp(min=1.0)
    return (weight * (x0 - target).pow(2).mean(dim=(1, 2, 3))).mean()


def shortcut_parts(cfg: ShortcutConfig) -> tuple[int, int]:
    """How many rows of a batch train the self-consistency term, and how many the anchor."""
    n_cons = max(1, round(cfg.batch_size * cfg.consistency_fraction))
    return n_cons, cfg.batch_size - n_cons


def shortcut_start(
    teacher: UNet2DConditionModel, init: UNet2DConditionModel | None
) -> UNet2DConditionModel:
    """The model a run starts from: the teacher with a zero step-size input, or a copy of `init`,
    which must be a shortcut model of the teacher's shape."""
    start = shortcut_unet_from(teacher)
    if init is None:
        return start
    if not is_shortcut(init):
        raise ValueError(
            "a shortcut run continues only from a shortcut model (one that takes the step size)."
        )
    shapes = {k: v.shape for k, v in start.state_dict().items()}
    theirs = {k: v.shape for k, v in init.state_dict().items()}
    if shapes != theirs:
        raise ValueError("the shortcut model to continue from is not shaped like this teacher.")
    start.load_state_dict(init.state_dict())
    return start


class ShortcutRun:
    """A resumable shortcut-model run in a run folder: the model, its EMA and the optimiser (one
    process, or one of the data-parallel workers that `parallel` names: each takes its rows of
    both terms' parts of the same global batch; the averaged gradients keep the model, and so
    its EMA, the same on every worker). `init`: a shortcut model of this teacher to continue
    from instead of the teacher itself."""

    def __init__(
        self,
        run_dir: Path,
        data: CaptionedImages,
        teacher: UNet2DConditionModel,
        cfg: ShortcutConfig,
        parallel: DataParallel = ONE_PROCESS,
        init: UNet2DConditionModel | None = None,
    ) -> None:
        self.dir, self.data, self.cfg, self.parallel = run_dir, data, cfg, parallel
        n_cons, n_anchor = shortcut_parts(cfg)
        self.cons_rows, self.anchor_rows = parallel.rows(n_cons), parallel.rows(n_anchor)
        self.device = parallel.device
        self.sched = VpSchedule(self.device)
        teacher = moved(teacher, self.device)
        self.teacher = GuidedModel(teacher, data, cfg.guidance, cfg.bf16)
        self.model = moved(shortcut_start(teacher, init), self.device).train()
        self.ema = copy_unet(self.model).eval().requires_grad_(False)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=0.0)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.state = ResumableState(run_dir / "checkpoint.pt")
        counters = self.state.restore(self._modules(), self.gen)
        self.step = counters["step"] if counters else 0
        self.level = 0
        self.trained = parallel.wrap(self.model)

    def _modules(self) -> dict:
        return {"model": self.model, "ema": self.ema, "opt": self.opt}

    def save(self) -> None:
        if self.parallel.writes:
            self.state.save(self._modules(), {"step": self.step}, self.cfg, self.gen)
        self.parallel.checkpointed(self.state.path, self.step)

    def train_step(self) -> tuple[float, float]:
        """One update on both terms: (self-consistency, anchor) losses; `self.level` is the
        step count the consistency term trained."""
        cfg = self.cfg
        for group in self.opt.param_groups:
            group["lr"] = cfg.lr_at(self.step)
        batch = self.data.sample(cfg.batch_size, 0.0, self.gen, str(self.device))
        cons_batch, anchor_batch = _split(batch, shortcut_parts(cfg)[0])
        level = STEP_COUNTS[int(torch.randint(0, len(STEP_COUNTS), (1,), generator=self.gen))]
        anchor = anchor_loss(
            self.trained,
            self.teacher,
            self.sched,
            anchor_batch,
            self.gen,
            cfg.bf16,
            self.anchor_rows,
        )
        cons = consistency_loss(
            self.trained,
            self.ema,
            self.sched,
            cons_batch,
            level,
            self.gen,
            cfg.bf16,
            self.cons_rows,
        )
        loss = cfg.anchor_weight * anchor + cons
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.opt.step()
        ema_update(self.ema, self.model, cfg.ema_decay)
        self.step += 1
        self.level = level
        return self.parallel.mean(float(cons.detach())), self.parallel.mean(float(anchor.detach()))

    def run(self, on_sample=None, progress: bool = True) -> None:
        def rate() -> float:
            return self.cfg.lr_at(max(0, self.step - 1))

        logs = {"loss.csv": rate, "anchor-loss.csv": rate}
        run_steps(self, "shortcut", logs, on_sample, progress, self.parallel.writes)
