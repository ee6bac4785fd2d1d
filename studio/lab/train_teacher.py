"""Training the embedded emoji teacher: v-prediction on the zero-terminal-SNR cosine schedule."""

from __future__ import annotations

import copy
import csv
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import UNet2DConditionModel
from tqdm import tqdm

from studio.engine.emoji_model import build_scheduler, build_unet, to_latents
from studio.engine.modules import moved
from studio.lab.batch import Batch, batch_rows
from studio.lab.checkpoints import load_state, restore_rng, rng_state, save_state
from studio.lab.data_parallel import ONE_PROCESS, DataParallel
from studio.lab.emoji_concepts import style_phrase
from studio.lab.emoji_dataset import EmojiDataset
from studio.lab.export import read_training_record
from studio.lab.text_cache import PromptTable, build_prompt_table, caption_variants, variant_indices

VARIANT_WEIGHTS = (0.6, 0.2, 0.2)


@dataclass(frozen=True, slots=True, kw_only=True)
class TeacherConfig:
    """Hyper-parameters of a teacher run."""

    steps: int = 40_000
    batch_size: int = 32
    lr: float = 4e-4
    warmup: int = 500
    weight_decay: float = 0.01
    ema_decay: float = 0.9995
    caption_dropout: float = 0.1
    snr_cap: float = 5.0
    grad_clip: float = 1.0
    checkpoint_every: int = 250
    sample_every: int = 1000
    seed: int = 0
    bf16: bool = True


class CaptionedImages:
    """The dataset as tensors, with caption variants and caption dropout at sampling time."""

    def __init__(self, data: EmojiDataset, table: PromptTable, rows: np.ndarray) -> None:
        images = torch.from_numpy(np.ascontiguousarray(data.images)).permute(0, 3, 1, 2)
        self.latents = to_latents(images.float() / 127.5 - 1.0)
        self.table = table
        self.rows = torch.from_numpy(rows)
        self.empty = table.index("")

    def sample(self, size: int, dropout: float, gen: torch.Generator, device: str) -> Batch:
        idx = torch.randint(0, len(self.latents), (size,), generator=gen)
        which = torch.multinomial(torch.tensor(VARIANT_WEIGHTS), size, True, generator=gen)
        prompt = self.rows[idx, which]
        prompt[torch.rand(size, generator=gen) < dropout] = self.empty
        t = self.table
        return Batch(
            x0=self.latents[idx].to(device),
            states=t.states[prompt].to(device, torch.float32),
            mask=t.mask[prompt].to(device, torch.long),
            pooled=t.pooled[prompt].to(device, torch.float32),
        )


def captioned_images(data: EmojiDataset, cache_dir: Path) -> CaptionedImages:
    variants = [
        caption_variants(n.lower(), g, s, style_phrase(st))
        for n, g, s, st in zip(
            data.names, _normal(data.groups), _normal(data.subgroups), data.styles, strict=True
        )
    ]
    variants = [(cap, *rest) for cap, (_, *rest) in zip(data.captions, variants, strict=True)]
    table = build_prompt_table([p for row in variants for p in row], cache_dir)
    return CaptionedImages(data, table, variant_indices(table, variants))


def _normal(labels: list[str]) -> list[str]:
    return [" ".join(x.lower().replace("-", " ").split()) for x in labels]


def v_target(x0: torch.Tensor, eps: torch.Tensor, a: torch.Tensor, s: torch.Tensor):
    return a * eps - s * x0


def loss_weight(abar: torch.Tensor, cap: float) -> torch.Tensor:
    """Truncated SNR+1 weight in x0 terms, divided by the SNR+1 that v-MSE already carries."""
    snr = abar / (1 - abar).clamp(min=1e-8)
    return (snr.clamp(max=cap) + 1) / (snr + 1)


def diffusion_loss(
    unet,
    batch: Batch,
    abar_table: torch.Tensor,
    cap: float,
    gen: torch.Generator,
    bf16: bool,
    rows: slice = slice(None),
) -> torch.Tensor:
    """The v-prediction loss of `rows` of the batch; the timesteps and noise are drawn for the
    whole batch, so data-parallel workers each taking their rows share one draw."""
    device = batch.x0.device
    t = torch.randint(0, len(abar_table), (batch.x0.shape[0],), generator=gen).to(device)[rows]
    eps = torch.randn(batch.x0.shape, generator=gen).to(device)[rows]
    batch = batch_rows(batch, rows)
    n = batch.x0.shape[0]
    abar = abar_table.to(device)[t].view(n, 1, 1, 1)
    a, s = abar.sqrt(), (1 - abar).sqrt()
    xt = a * batch.x0 + s * eps
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        pred = unet(
            xt,
            t,
            encoder_hidden_states=batch.states,
            encoder_attention_mask=batch.mask,
            class_labels=batch.pooled,
        ).sample
    err = (pred.float() - v_target(batch.x0, eps, a, s)).pow(2).mean(dim=(1, 2, 3))
    return (err * loss_weight(abar.view(n), cap)).mean()


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p.detach(), 1 - decay)


def ema_decay_at(step: int, target: float) -> float:
    return min(target, (1 + step) / (10 + step))


def lr_at(step: int, cfg: TeacherConfig) -> float:
    return cfg.lr * min(1.0, (step + 1) / cfg.warmup)


class TeacherRun:
    """One resumable teacher training run in a run folder: checkpoint, loss log, sample sheets."""

    def __init__(
        self,
        run_dir: Path,
        data: CaptionedImages,
        cfg: TeacherConfig,
        init_from: Path | None = None,
        parallel: DataParallel = ONE_PROCESS,
    ) -> None:
        self.dir = run_dir
        self.init_from = init_from
        self.data = data
        self.cfg = cfg
        self.parallel = parallel
        self.rows = parallel.rows(cfg.batch_size)
        self.device = parallel.device
        self.unet = moved(build_unet(), self.device).train()
        self.ema = copy.deepcopy(self.unet).eval().requires_grad_(False)
        self.opt = torch.optim.AdamW(
            self.unet.parameters(), lr=cfg.lr, betas=(0.9, 0.99), weight_decay=cfg.weight_decay
        )
        self.abar = build_scheduler().alphas_cumprod.float()
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.step = 0
        self._resume()
        self.trained = parallel.wrap(self.unet)

    @property
    def checkpoint_path(self) -> Path:
        return self.dir / "checkpoint.pt"

    def _resume(self) -> None:
        state = load_state(self.checkpoint_path)
        if state is None:
            self._init_from_export()
            return
        self.unet.load_state_dict(state["unet"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["opt"])
        self.gen.set_state(state["gen"])
        restore_rng(state["rng"])
        self.step = int(state["step"])

    def _init_from_export(self) -> None:
        """Without a checkpoint, start from exported EMA weights (fresh optimiser) if given."""
        if self.init_from is None:
            return
        exported = UNet2DConditionModel.from_pretrained(
            self.init_from / "unet", use_safetensors=True
        )
        weights = {k: v.float() for k, v in exported.state_dict().items()}
        self.unet.load_state_dict(weights)
        self.ema.load_state_dict(weights)
        self.step = int(read_training_record(self.init_from).get("step", 0))

    def save(self) -> None:
        if self.parallel.writes:
            self._save()
        self.parallel.checkpointed(self.checkpoint_path, self.step)

    def _save(self) -> None:
        save_state(
            self.checkpoint_path,
            {
                "unet": self.unet.state_dict(),
                "ema": self.ema.state_dict(),
                "opt": self.opt.state_dict(),
                "gen": self.gen.get_state(),
                "rng": rng_state(),
                "step": self.step,
                "config": asdict(self.cfg),
            },
        )

    def train_step(self) -> float:
        for group in self.opt.param_groups:
            group["lr"] = lr_at(self.step, self.cfg)
        batch = self.data.sample(
            self.cfg.batch_size, self.cfg.caption_dropout, self.gen, str(self.device)
        )
        loss = diffusion_loss(
            self.trained, batch, self.abar, self.cfg.snr_cap, self.gen, self.cfg.bf16, self.rows
        )
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.unet.parameters(), self.cfg.grad_clip)
        self.opt.step()
        ema_update(self.ema, self.unet, ema_decay_at(self.step, self.cfg.ema_decay))
        self.step += 1
        return self.parallel.mean(float(loss.detach()))

    def run(self, until: int, on_sample=None, progress: bool = True) -> None:
        """Train to step `until`; only the worker that writes logs, samples and shows progress."""
        writes = self.parallel.writes
        log = LossLog(self.dir / "loss.csv")
        bar = tqdm(
            total=until, initial=self.step, disable=not (progress and writes), desc="teacher"
        )
        started, window = time.monotonic(), []
        while self.step < until:
            window.append(self.train_step())
            bar.update()
            if self.step % 50 == 0 and writes:
                log.add(
                    self.step,
                    float(np.mean(window)),
                    lr_at(self.step, self.cfg),
                    time.monotonic() - started,
                )
                bar.set_postfix(loss=f"{np.mean(window):.4f}")
                window = []
            if self.step % self.cfg.checkpoint_every == 0 or self.step == until:
                self.save()
            sample = self.step % self.cfg.sample_every == 0 or self.step == until
            if on_sample and sample and writes:
                on_sample(self)
        bar.close()

    def ema_unet(self) -> UNet2DConditionModel:
        return self.ema


class LossLog:
    """Appends (step, loss, lr, seconds) rows to a CSV file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def add(self, step: int, loss: float, lr: float, seconds: float) -> None:
        new = not self.path.exists()
        with self.path.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(["step", "loss", "lr", "session_seconds"])
            writer.writerow([step, f"{loss:.6f}", f"{lr:.3g}", f"{seconds:.1f}"])


def default_run_dir(name: str = "teacher") -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("studio")) / "runs" / name


def train_teacher(
    dataset_path: Path,
    run_dir: Path,
    steps: int,
    threads: int = 0,
    cfg: TeacherConfig | None = None,
    progress: bool = True,
    init_from: Path | None = None,
    parallel: DataParallel = ONE_PROCESS,
) -> TeacherRun:
    """Train (or resume) a teacher to `steps`, with a sample sheet and an export every so often;
    `parallel` is this process's part in a data-parallel run (one process by default)."""
    from studio.lab.cards import compute_from_log, device_line
    from studio.lab.emoji_dataset import load_dataset
    from studio.lab.export import export_pipeline
    from studio.lab.sheets import sample_sheet

    if threads:
        torch.set_num_threads(threads)
    cfg = cfg or TeacherConfig()
    data = captioned_images(load_dataset(dataset_path), run_dir.parent / "text-cache")
    run = TeacherRun(run_dir, data, cfg, init_from, parallel)

    def on_sample(r: TeacherRun) -> None:
        sample_sheet(r.ema, run_dir / "samples" / f"step-{r.step:06d}.png")
        compute = compute_from_log(run_dir / "loss.csv")
        export_pipeline(
            r.ema,
            run_dir / "export" / "emoji-teacher",
            training={"step": r.step, "hours": round(compute.hours, 2), "device": device_line()},
        )

    run.run(steps, on_sample=on_sample, progress=progress)
    return run
