"""`studio guidance-classifier`: train the noise-conditional subgroup classifier that classifier
guidance follows, and ship it under assets/guidance.

Independent of the eval judge by construction: its own architecture
(`studio.engine.classifier_guidance.NoisyClassifierNet`), seed 1 (the judge's is 0), and a data
split that leaves out every concept of the evaluation prompts (those rows are its held-out set,
so guidance cannot be tuned to the exact images the judge scores). Inputs are x_t on the embedded
teacher's zero-terminal-SNR schedule at a uniformly drawn training timestep.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save as safetensors_bytes
from torch import nn
from tqdm import tqdm

from studio.core.atomic import atomic_write_bytes
from studio.engine.classifier_guidance import NoisyClassifierNet
from studio.engine.emoji_model import build_scheduler, to_latents
from studio.lab.emoji_dataset import EmojiDataset
from studio.lab.evaluate import eval_items

SEED = 1
CHECK_TIMESTEPS = (0, 250, 500, 750, 900)


@dataclass(frozen=True, slots=True)
class ClassifierRun:
    """A trained classifier and its held-out accuracy per timestep."""

    net: NoisyClassifierNet
    held_out_accuracy: dict[int, float]
    train_rows: int
    held_out_rows: int
    seconds: float


def split_rows(data: EmojiDataset) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, held-out rows): held out are all rows of the eval prompts' concepts."""
    eval_captions = {item.prompt for item in eval_items(data)}
    eval_names = {data.names[i] for i, c in enumerate(data.captions) if c in eval_captions}
    held = np.array([n in eval_names for n in data.names])
    return np.flatnonzero(~held), np.flatnonzero(held)


def model_inputs(images: np.ndarray) -> torch.Tensor:
    pixels = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return to_latents(pixels / 127.5 - 1.0)


def noised(
    x0: torch.Tensor, t: torch.Tensor, abar: torch.Tensor, gen: torch.Generator
) -> torch.Tensor:
    a = abar[t].sqrt().reshape(-1, 1, 1, 1)
    s = (1 - abar[t]).sqrt().reshape(-1, 1, 1, 1)
    return a * x0 + s * torch.randn(x0.shape, generator=gen)


@torch.no_grad()
def accuracy_at(
    net: NoisyClassifierNet, x0: torch.Tensor, labels: torch.Tensor, t: int, abar: torch.Tensor
) -> float:
    gen = torch.Generator().manual_seed(SEED + t)
    steps = torch.full((len(x0),), t)
    logits = net(noised(x0, steps, abar, gen), steps.float())
    return float((logits.argmax(1) == labels).float().mean())


def train(data: EmojiDataset, steps: int, batch: int = 64, progress: bool = True) -> ClassifierRun:
    started = time.perf_counter()
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    train_rows, held_rows = split_rows(data)
    x_all = model_inputs(data.images)
    y_all = torch.from_numpy(data.subgroup_ids.astype(np.int64))
    abar = build_scheduler().alphas_cumprod.float()
    net = NoisyClassifierNet(len(data.subgroup_vocab))
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    rows = torch.from_numpy(train_rows)
    net.train()
    for _ in tqdm(range(steps), disable=not progress, desc="guidance classifier"):
        pick = rows[torch.randint(0, len(rows), (batch,), generator=gen)]
        t = torch.randint(0, len(abar), (batch,), generator=gen)
        loss = nn.functional.cross_entropy(
            net(noised(x_all[pick], t, abar, gen), t.float()), y_all[pick]
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    held = torch.from_numpy(held_rows)
    accuracy = {t: accuracy_at(net, x_all[held], y_all[held], t, abar) for t in CHECK_TIMESTEPS}
    seconds = time.perf_counter() - started
    return ClassifierRun(net, accuracy, len(train_rows), len(held_rows), seconds)


def save(run: ClassifierRun, data: EmojiDataset, folder: Path, steps: int) -> Path:
    """Weights, vocabulary, the name -> subgroup index and a record, each written atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.contiguous() for k, v in run.net.state_dict().items()}
    atomic_write_bytes(folder / "classifier.safetensors", safetensors_bytes(tensors))
    names = {n.lower(): s for n, s in zip(data.names, data.subgroups, strict=True)}
    record = {
        "seed": SEED,
        "steps": steps,
        "train_rows": run.train_rows,
        "held_out_rows": run.held_out_rows,
        "held_out": "every row of the concepts in the evaluation prompts",
        "held_out_accuracy_by_timestep": {
            str(k): round(v, 4) for k, v in run.held_out_accuracy.items()
        },
        "wall_clock_seconds": round(run.seconds, 1),
    }
    for name, value in (
        ("vocab.json", list(data.subgroup_vocab)),
        ("names.json", dict(sorted(names.items()))),
        ("training.json", record),
    ):
        atomic_write_bytes(folder / name, json.dumps(value, indent=1).encode())
    return folder
