"""Score identity Distillation (Zhou et al., ICML 2024): the emoji teacher as a one-step generator.

Data-free: only the captions' text embeddings are used, never the images. Three networks:

- ``G`` maps noise ``z`` at the last (pure-noise, zero-SNR) timestep to an image in one step,
  ``x_g = x0_G(z, T-1)``; on this zero-terminal-SNR v-prediction schedule that is ``-v_G(z, T-1)``,
  exactly what a one-step DDIM (trailing) sampler computes, so the result ships as an ordinary
  one-step student.
- ``f_phi``, the frozen teacher with classifier-free guidance folded in (as the other students).
- ``f_psi``, a "fake" denoiser that learns to denoise generator samples (the teacher's own
  v-prediction objective on ``sg(x_g)`` noised at a uniform timestep).

Per step, alternately: update ``f_psi`` on fresh generator samples; then update ``G`` with

    x_t = a_t x_g + s_t eps,   g = f_phi(x_t) - f_psi(x_t),
    loss = <g, (f_phi(x_t) - x_g) - alpha g> / w

with gradients flowing through both frozen denoisers into ``x_g`` (their weights never change),
``w = mean|x_g - f_phi(x_t)|`` per sample without gradient, alpha = 1.2 and t drawn uniformly in
the Karras rho-space from sigma_min up to ``t_max`` = 0.8 of the way to sigma_max (the paper's
tmax = 800), each sigma mapped to the discrete timestep of the same noise-to-signal ratio. Both
Adam optimisers use the paper's betas (0, 0.999); the exported generator is an EMA of ``G``.

``G`` may start from the teacher (as in the paper) or from a one-step student that already maps
noise to images (``init``): on a CPU budget of a few thousand steps that start is what makes the
run reach the teacher at all; ``f_psi`` always starts from the teacher. A generator that is already
trained (a shipped SiD student taken further) would then follow a fake score that describes the
teacher's images, not its own, and lose what it had; ``fake_warmup`` gives ``f_psi`` that many
updates on the generator's samples before ``G``'s first (the generator's learning-rate warm-up and
EMA ramp-up count from its own first update).

``fake_guidance`` (kappa) is the SiD-LSG variant for text-to-image models (Zhou et al., "Guided
Score identity Distillation for Data-Free One-Step Text-to-Image Generation", ICLR 2025): the fake
denoiser is then trained and evaluated with classifier-free guidance at kappa, its guided
prediction ``u + kappa (c - u)`` fitting the generator's samples (the reference's kappa_1) and
standing in for ``f_psi`` in the generator's loss (kappa_2 = kappa_3, set equal here, as the
reference does by default), while the teacher's guidance (its kappa_4) stays ``guidance``. At
kappa 1, the default, this is plain SiD with guidance in the teacher only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

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
    guided,
    predict_v,
    run_steps,
    v_to_x0_eps,
)
from studio.lab.train_teacher import CaptionedImages, diffusion_loss, ema_update


@dataclass(frozen=True, slots=True, kw_only=True)
class SidConfig(DistillConfig):
    """The SiD loss coefficient, time range, optimisers and length of a run (paper defaults)."""

    steps: int = 6000
    alpha: float = 1.2
    t_max: float = 0.8
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = 7.0
    generator_lr: float = 1e-5
    fake_lr: float = 1e-5
    beta1: float = 0.0
    fake_snr_cap: float = 5.0
    ema_halflife_images: float = 500_000.0
    ema_rampup: float = 0.05
    weighting: str = "1/mean|x_g - f_phi(x_t)|"
    init: str = "emoji-teacher"
    fake_warmup: int = 0
    fake_guidance: float = 1.0

    def __post_init__(self) -> None:
        if not self.fake_guidance >= 1:
            raise ValueError(
                "The fake denoiser's guidance (SiD-LSG's kappa) must be 1 (none) or more, not "
                f"{self.fake_guidance}."
            )
        if not 0 <= self.fake_warmup < self.steps:
            raise ValueError(
                "The fake denoiser's warm-up (its updates before the generator's first) must be "
                f"from 0 to {self.steps - 1} steps, fewer than the run's, not {self.fake_warmup}."
            )
        if not 0 < self.t_max <= 1:
            raise ValueError(f"t_max must be in (0, 1], got {self.t_max}.")
        if self.alpha < 0:
            raise ValueError(f"alpha must be non-negative, got {self.alpha}.")

    def ema_decay(self, step: int) -> float:
        """EMA decay per step from a half-life in images, ramped up with the images seen (EDM)."""
        seen = (step + 1) * self.batch_size
        halflife = min(self.ema_halflife_images, seen * self.ema_rampup)
        return 0.5 ** (self.batch_size / max(halflife, 1e-8))


def sid_timesteps(n: int, sched: VpSchedule, cfg: SidConfig, gen: torch.Generator) -> torch.Tensor:
    """Discrete timesteps whose noise-to-signal ratio matches sigmas drawn in Karras rho-space."""
    u = torch.rand(n, generator=gen, dtype=torch.float64) * cfg.t_max
    lo, hi = cfg.sigma_min ** (1 / cfg.rho), cfg.sigma_max ** (1 / cfg.rho)
    sigma = (lo + u * (hi - lo)) ** cfg.rho
    abar = sched.abar[: sched.steps].cpu()
    ratio = ((1 - abar) / abar).sqrt()
    t = torch.searchsorted(ratio, sigma).clamp(max=sched.steps - 1)
    return t.to(sched.abar.device)


def generate(G, z: torch.Tensor, batch: Batch, sched: VpSchedule, bf16: bool) -> torch.Tensor:
    """One-step generator output: the x0 that G predicts from pure noise at the last timestep."""
    t = torch.full((z.shape[0],), sched.steps - 1, device=z.device, dtype=torch.long)
    a, s = sched.coefficients(t)
    x0, _ = v_to_x0_eps(z, predict_v(G, z, t, batch, bf16), a, s)
    return x0


def sid_generator_loss(
    x_g: torch.Tensor,
    teacher: GuidedModel,
    fake: Callable[..., Any],
    sched: VpSchedule,
    batch: Batch,
    gen: torch.Generator,
    cfg: SidConfig,
    rows: slice = slice(None),
) -> torch.Tensor:
    """The score-identity loss of generator samples ``x_g`` (gradient reaches ``x_g`` only
    through the two frozen denoisers and the ``-x_g`` term; `fake` guided or not, as the run
    sets it). ``x_g`` are `rows` of `batch`:
    the timesteps and noise are drawn for the whole batch, so that data-parallel workers
    training disjoint rows together see what one process would."""
    t = sid_timesteps(batch.x0.shape[0], sched, cfg, gen)[rows]
    a, s = sched.coefficients(t)
    eps = torch.randn(batch.x0.shape, generator=gen).to(x_g.device)[rows]
    x_t = a * x_g + s * eps
    noised = replace(batch_rows(batch, rows), x0=x_t)
    real, _ = v_to_x0_eps(x_t, teacher.v_through(x_t, t, noised), a, s)
    fake_x0, _ = v_to_x0_eps(x_t, predict_v(fake, x_t, t, noised, cfg.bf16), a, s)
    with torch.no_grad():
        weight = (x_g - real).abs().mean(dim=(1, 2, 3), keepdim=True).clamp(min=1e-5)
    gap = real - fake_x0
    per_pixel = gap * ((real - x_g) - cfg.alpha * gap) / weight
    return per_pixel.mean(dim=(1, 2, 3)).mean()


def fake_loss(
    fake: Callable[..., Any],
    x_g: torch.Tensor,
    batch: Batch,
    sched: VpSchedule,
    gen: torch.Generator,
    cfg: SidConfig,
    rows: slice = slice(None),
) -> torch.Tensor:
    """The teacher's own denoising objective, on (detached) generator samples, of `fake`'s
    prediction (guided under SiD-LSG): `x_g` holds the whole batch's rows, of which only `rows`
    are trained on (and need be filled in)."""
    abar = sched.abar[: sched.steps].float()
    return diffusion_loss(
        fake, replace(batch, x0=x_g.detach()), abar, cfg.fake_snr_cap, gen, cfg.bf16, rows
    )


def _finite_grads(module: torch.nn.Module) -> None:
    for p in module.parameters():
        if p.grad is not None:
            torch.nan_to_num(p.grad, nan=0.0, posinf=1e5, neginf=-1e5, out=p.grad)


class SidRun:
    """A resumable SiD run in a run folder: generator, its EMA, the fake denoiser, optimisers
    (one process, or one of the data-parallel workers that `parallel` names: each takes its rows
    of the same global batch, and both the generator's and the fake denoiser's gradients are
    averaged over the workers)."""

    def __init__(
        self,
        run_dir: Path,
        data: CaptionedImages,
        teacher: UNet2DConditionModel,
        init: UNet2DConditionModel,
        cfg: SidConfig,
        parallel: DataParallel = ONE_PROCESS,
    ) -> None:
        self.dir, self.data, self.cfg, self.parallel = run_dir, data, cfg, parallel
        self.rows = parallel.rows(cfg.batch_size)
        self.device = parallel.device
        self.sched = VpSchedule(self.device)
        teacher = moved(teacher, self.device)
        self.teacher = GuidedModel(teacher, data, cfg.guidance, cfg.bf16)
        self.generator = moved(copy_unet(init), self.device).train()
        freeze_non_matrices(self.generator)
        self.generator_ema = copy_unet(self.generator).eval().requires_grad_(False)
        self.fake = copy_unet(teacher).eval().requires_grad_(False)
        betas = (cfg.beta1, 0.999)
        trainable = [p for p in self.generator.parameters() if p.requires_grad]
        self.g_opt = torch.optim.Adam(trainable, lr=cfg.generator_lr, betas=betas)
        self.f_opt = torch.optim.Adam(self.fake.parameters(), lr=cfg.fake_lr, betas=betas)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.state = ResumableState(run_dir / "checkpoint.pt")
        counters = self.state.restore(self._modules(), self.gen)
        self.step = counters["step"] if counters else 0
        self.trained_generator = parallel.wrap(self.generator)
        # The fake denoiser trains in its own step only (frozen in the generator's), so it is
        # wrapped while its weights take gradients.
        self.trained_fake = parallel.wrap(self.fake.requires_grad_(True))
        self.fake.requires_grad_(False)
        self.guided_fake = guided(self.fake, data, cfg.fake_guidance)
        self.guided_trained_fake = guided(self.trained_fake, data, cfg.fake_guidance)

    def _modules(self) -> dict:
        return {
            "generator": self.generator,
            "generator_ema": self.generator_ema,
            "fake": self.fake,
            "g_opt": self.g_opt,
            "f_opt": self.f_opt,
        }

    def save(self) -> None:
        if self.parallel.writes:
            self.state.save(self._modules(), {"step": self.step}, self.cfg, self.gen)
        self.parallel.checkpointed(self.state.path, self.step)

    def _noise_and_prompts(self) -> tuple[torch.Tensor, Batch]:
        batch = self.data.sample(self.cfg.batch_size, 0.0, self.gen, str(self.device))
        z = torch.randn(batch.x0.shape, generator=self.gen).to(self.device)
        return z, batch

    @property
    def generator_updates(self) -> int:
        """How many times the generator has been updated (the steps after the fake's warm-up)."""
        return max(0, self.step - self.cfg.fake_warmup)

    def _warm(self, opt: torch.optim.Optimizer, lr: float, updates: int) -> None:
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (updates + 1) / self.cfg.warmup)

    def fake_step(self) -> float:
        self.trained_fake.train().requires_grad_(True)
        z, batch = self._noise_and_prompts()
        rows = self.rows
        x_g = torch.zeros_like(z)
        with torch.no_grad():
            x_g[rows] = generate(
                self.generator, z[rows], batch_rows(batch, rows), self.sched, self.cfg.bf16
            )
        loss = fake_loss(self.guided_trained_fake, x_g, batch, self.sched, self.gen, self.cfg, rows)
        self.f_opt.zero_grad(set_to_none=True)
        loss.backward()
        _finite_grads(self.fake)
        self._warm(self.f_opt, self.cfg.fake_lr, self.step)
        self.f_opt.step()
        self.trained_fake.eval().requires_grad_(False)
        return self.parallel.mean(float(loss.detach()))

    def generator_step(self) -> float:
        z, batch = self._noise_and_prompts()
        rows = self.rows
        x_g = generate(
            self.trained_generator, z[rows], batch_rows(batch, rows), self.sched, self.cfg.bf16
        )
        loss = sid_generator_loss(
            x_g, self.teacher, self.guided_fake, self.sched, batch, self.gen, self.cfg, rows
        )
        self.g_opt.zero_grad(set_to_none=True)
        loss.backward()
        _finite_grads(self.generator)
        updates = self.generator_updates
        self._warm(self.g_opt, self.cfg.generator_lr, updates)
        self.g_opt.step()
        ema_update(self.generator_ema, self.generator, self.cfg.ema_decay(updates))
        return self.parallel.mean(float(loss.detach()))

    def train_step(self) -> tuple[float | None, float]:
        """One fake-denoiser update, then one generator update (none during the fake's
        warm-up): (generator, fake) losses, the generator's None when it was not updated."""
        fake = self.fake_step()
        warming = self.step < self.cfg.fake_warmup
        generator = None if warming else self.generator_step()
        self.step += 1
        return generator, fake

    def run(self, on_sample=None, progress: bool = True) -> None:
        logs = {"loss.csv": self.cfg.generator_lr, "fake-loss.csv": self.cfg.fake_lr}
        run_steps(self, "sid", logs, on_sample, progress, self.parallel.writes)
