"""Training the evaluation classifier (`studio.engine.judge`'s small CNN that names an emoji
image's Unicode subgroup), and the Fréchet distance in its feature space.

It is trained on the same renderings with augmentations that mimic sampler artefacts (noise,
blur, small shifts); the engine loads it to judge generated samples.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from studio.engine.judge import Classifier, SubgroupNet, to_tensor


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
    root = linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))
