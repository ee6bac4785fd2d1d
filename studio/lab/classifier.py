"""The evaluation classifier: a small CNN that names an emoji image's Unicode subgroup.

It judges generated samples (accuracy against the prompt's subgroup) and provides the feature
space for a Fréchet distance against the data. Trained on the same renderings with
augmentations that mimic sampler artefacts (noise, blur, small shifts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

FEATURES = 128


class SubgroupNet(nn.Module):
    """Conv net: 32x32 RGB in [-1, 1] to subgroup logits, with a 128-d feature layer."""

    def __init__(self, classes: int) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1),
                nn.GroupNorm(8, cout),
                nn.SiLU(),
                nn.Conv2d(cout, cout, 3, padding=1),
                nn.GroupNorm(8, cout),
                nn.SiLU(),
                nn.AvgPool2d(2),
            )

        self.body = nn.Sequential(block(3, 32), block(32, 64), block(64, 128), block(128, 128))
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(128 * 4, FEATURES), nn.SiLU())
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(FEATURES, classes))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


@dataclass(frozen=True, slots=True)
class Classifier:
    """A trained SubgroupNet with its label vocabulary."""

    net: SubgroupNet
    vocab: tuple[str, ...]

    @torch.no_grad()
    def predict(self, images: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Predicted subgroup ids and 128-d features for uint8 Nx32x32x3 images."""
        self.net.eval()
        ids, feats = [], []
        for i in range(0, len(images), batch):
            x = to_tensor(images[i : i + batch])
            f = self.net.embed(x)
            ids.append(self.net.head(f).argmax(1).numpy())
            feats.append(f.numpy())
        return np.concatenate(ids), np.concatenate(feats).astype(np.float64)

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.contiguous() for k, v in self.net.state_dict().items()}
        save_file(tensors, folder / "classifier.safetensors")
        (folder / "vocab.json").write_text(json.dumps(list(self.vocab), indent=0))
        return folder

    @classmethod
    def load(cls, folder: Path) -> Classifier:
        vocab = tuple(json.loads((folder / "vocab.json").read_text()))
        net = SubgroupNet(len(vocab))
        net.load_state_dict(load_file(folder / "classifier.safetensors"))
        return cls(net.eval(), vocab)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random shifts of up to 2 px, Gaussian noise and occasional blur, per image."""
    n = x.shape[0]
    shifts = torch.randint(-2, 3, (n, 2), generator=gen)
    x = torch.stack(
        [
            torch.roll(img, (int(dy), int(dx)), (1, 2))
            for img, (dy, dx) in zip(x, shifts, strict=True)
        ]
    )
    sigma = torch.rand(n, 1, 1, 1, generator=gen) * 0.15
    x = x + sigma * torch.randn(x.shape, generator=gen)
    blur = torch.rand(n, generator=gen) < 0.3
    if blur.any():
        kernel = torch.tensor([1.0, 2.0, 1.0])
        kernel = (kernel[:, None] * kernel[None, :] / 16).expand(3, 1, 3, 3)
        x[blur] = nn.functional.conv2d(x[blur], kernel, padding=1, groups=3)
    return x.clamp(-1, 1)


def train_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    vocab: tuple[str, ...],
    steps: int = 3000,
    batch: int = 128,
    seed: int = 0,
    progress: bool = True,
) -> Classifier:
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = SubgroupNet(len(vocab))
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    x_all, y_all = to_tensor(images), torch.from_numpy(labels.astype(np.int64))
    net.train()
    for _ in tqdm(range(steps), disable=not progress, desc="classifier"):
        idx = torch.randint(0, len(x_all), (batch,), generator=gen)
        loss = nn.functional.cross_entropy(
            net(augment(x_all[idx], gen)), y_all[idx], label_smoothing=0.1
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return Classifier(net.eval(), vocab)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (rows are samples)."""
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root, _ = linalg.sqrtm(cov_a @ cov_b, disp=False)
    root = root.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))
