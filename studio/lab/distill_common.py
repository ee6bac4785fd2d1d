"""What the distillation methods share: the guided teacher, the VP schedule, resumable runs."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from diffusers import UNet2DConditionModel
from diffusers.models.unets.unet_2d_condition import UNet2DConditionOutput
from tqdm import tqdm

from studio.engine.emoji_model import build_scheduler
from studio.lab.batch import Batch
from studio.lab.checkpoints import load_state, restore_rng, rng_state, save_state
from studio.lab.train_teacher import CaptionedImages, LossLog


class VPredictor(Protocol):
    """Anything that predicts v for noised latents at integer timesteps (no gradient)."""

    def v(self, z: torch.Tensor, t: torch.Tensor, batch: Batch) -> torch.Tensor: ...


class VpSchedule:
    """alpha_t and sigma_t of the discrete zero-terminal-SNR schedule; t = -1 is clean data."""

    def __init__(self, device: torch.device) -> None:
        abar = build_scheduler().alphas_cumprod.to(torch.float64)
        self.abar = torch.cat([abar, torch.ones(1, dtype=torch.float64)]).to(device)
        self.steps = len(abar)

    def coefficients(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(alpha, sigma) for integer timesteps, shaped (n, 1, 1, 1); index -1 means clean."""
        abar = self.abar[t.long()].float().view(-1, 1, 1, 1)
        return abar.sqrt(), (1 - abar).clamp(min=0).sqrt()

    def grid(self, k: torch.Tensor, n: int) -> torch.Tensor:
        """Trailing timestep of step k on an n-step grid: round(T*k/n) - 1; k = 0 gives -1."""
        return torch.round(k.double() * self.steps / n).long() - 1

    def snr(self, t: torch.Tensor) -> torch.Tensor:
        a, s = self.coefficients(t)
        return (a**2 / (s**2).clamp(min=1e-8)).view(-1)


def v_to_x0_eps(z: torch.Tensor, v: torch.Tensor, a: torch.Tensor, s: torch.Tensor):
    return a * z - s * v, s * z + a * v


def empty_prompt(data: CaptionedImages) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The empty caption's text states, mask and pooled embedding: guidance's unconditional half."""
    row = data.empty
    return data.table.states[row], data.table.mask[row], data.table.pooled[row]


class GuidedUNet:
    """A UNet called as diffusers calls it that answers with classifier-free guidance at a fixed
    scale: one forward over the unconditional and conditional halves, combined in float32."""

    def __init__(
        self,
        unet: Callable[..., Any],
        empty: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        guidance: float,
    ) -> None:
        self.unet, self.empty, self.guidance = unet, empty, guidance

    def __call__(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        *,
        encoder_hidden_states: torch.Tensor,
        encoder_attention_mask: torch.Tensor,
        class_labels: torch.Tensor,
    ) -> UNet2DConditionOutput:
        n, dev = sample.shape[0], sample.device
        states, mask, pooled = self.empty
        out = self.unet(
            torch.cat([sample, sample]),
            torch.cat([timestep, timestep]),
            encoder_hidden_states=torch.cat(
                [states.to(dev, torch.float32).expand(n, -1, -1), encoder_hidden_states]
            ),
            encoder_attention_mask=torch.cat(
                [mask.to(dev, torch.long).expand(n, -1), encoder_attention_mask]
            ),
            class_labels=torch.cat([pooled.to(dev, torch.float32).expand(n, -1), class_labels]),
        ).sample.float()
        uncond, cond = out.chunk(2)
        return UNet2DConditionOutput(sample=uncond + self.guidance * (cond - uncond))


def guided(unet: Callable[..., Any], data: CaptionedImages, guidance: float) -> Callable[..., Any]:
    """`unet` with classifier-free guidance at `guidance` (itself at 1 or below: no guidance)."""
    return unet if guidance <= 1 else GuidedUNet(unet, empty_prompt(data), guidance)


class GuidedModel:
    """A frozen v-prediction UNet evaluated with classifier-free guidance at a fixed scale."""

    def __init__(
        self, unet: UNet2DConditionModel, data: CaptionedImages, guidance: float, bf16: bool
    ) -> None:
        self.unet = unet.eval().requires_grad_(False)
        self.guidance = guidance
        self.bf16 = bf16
        self.guided = guided(self.unet, data, guidance)

    @torch.no_grad()
    def v(self, z: torch.Tensor, t: torch.Tensor, batch: Batch) -> torch.Tensor:
        return self.v_through(z, t, batch)

    def v_through(self, z: torch.Tensor, t: torch.Tensor, batch: Batch) -> torch.Tensor:
        """The guided prediction with gradients flowing back into ``z`` (never into the weights)."""
        return predict_v(self.guided, z, t, batch, self.bf16)


def predict_v(
    unet,
    z: torch.Tensor,
    t: torch.Tensor,
    batch: Batch,
    bf16: bool,
    timestep_cond: torch.Tensor | None = None,
) -> torch.Tensor:
    """The UNet's v for noised latents (`timestep_cond`: a shortcut model's step size)."""
    extra = {} if timestep_cond is None else {"timestep_cond": timestep_cond}
    with torch.autocast(z.device.type, dtype=torch.bfloat16, enabled=bf16):
        out = unet(
            z,
            t.clamp(min=0),
            encoder_hidden_states=batch.states,
            encoder_attention_mask=batch.mask,
            class_labels=batch.pooled,
            **extra,
        ).sample
    return out.float()


@dataclass(frozen=True, slots=True, kw_only=True)
class DistillConfig:
    """Hyper-parameters shared by the distillation methods."""

    batch_size: int = 32
    lr: float = 1e-4
    warmup: int = 100
    guidance: float = 3.0
    grad_clip: float = 1.0
    checkpoint_every: int = 250
    sample_every: int = 500
    seed: int = 1
    bf16: bool = True


def copy_unet(unet: UNet2DConditionModel) -> UNet2DConditionModel:
    return copy.deepcopy(unet)


class ResumableState:
    """Saves and restores named modules, optimisers and counters in one checkpoint file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(
        self, modules: dict[str, Any], counters: dict[str, int], cfg: Any, gen: torch.Generator
    ) -> None:
        state = {name: m.state_dict() for name, m in modules.items()}
        state.update(counters=counters, config=asdict(cfg), gen=gen.get_state(), rng=rng_state())
        save_state(self.path, state)

    def restore(self, modules: dict[str, Any], gen: torch.Generator) -> dict[str, int] | None:
        state = load_state(self.path)
        if state is None:
            return None
        for name, module in modules.items():
            module.load_state_dict(state[name])
        gen.set_state(state["gen"])
        restore_rng(state["rng"])
        return dict(state["counters"])


class SteppedRun(Protocol):
    """What `run_steps` drives: a resumable run with a step counter, a config and a folder."""

    dir: Path
    step: int
    cfg: Any

    def train_step(self) -> float | tuple[float | None, ...]: ...

    def save(self) -> None: ...


def _constant(value: float) -> Callable[[], float]:
    return lambda: value


def run_steps(
    run: SteppedRun,
    desc: str,
    logs: Mapping[str, float | Callable[[], float]],
    on_sample: Callable[[Any], None] | None = None,
    progress: bool = True,
    writes: bool = True,
) -> None:
    """Train until `run.cfg.steps` with a progress bar; every 50 steps the mean of each loss
    `train_step` returns goes to its CSV (`logs` maps file names, in the same order, to the
    learning rate written beside it, or a function that gives the current one; a loss of None,
    a network not updated that step, is left out, and a window with none writes no row);
    checkpoints and samples on the config's schedule.
    A data-parallel worker that does not write (`writes` False) shows no bar, logs nothing and
    samples nothing; it still calls `run.save()` with the others."""
    files = [LossLog(run.dir / name) for name in logs] if writes else []
    rates = [rate if callable(rate) else _constant(rate) for rate in logs.values()]
    windows: list[list[float]] = [[] for _ in logs]
    started = time.monotonic()
    bar = tqdm(total=run.cfg.steps, initial=run.step, disable=not (progress and writes), desc=desc)
    while run.step < run.cfg.steps:
        losses = run.train_step()
        losses = losses if isinstance(losses, tuple) else (losses,)
        for window, loss in zip(windows, losses, strict=True):
            if loss is not None:
                window.append(loss)
        bar.update()
        if run.step % 50 == 0:
            seconds = time.monotonic() - started
            for log, window, rate in zip(files, windows, rates, strict=False):
                if window:
                    log.add(run.step, sum(window) / len(window), rate(), seconds)
            windows = [[] for _ in logs]
        last = run.step == run.cfg.steps
        if run.step % run.cfg.checkpoint_every == 0 or last:
            run.save()
        if writes and on_sample and (run.step % run.cfg.sample_every == 0 or last):
            on_sample(run)
    bar.close()
