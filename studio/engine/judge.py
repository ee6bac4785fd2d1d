"""The eval judge at inference time: the subgroup classifier that names an emoji image's
Unicode subgroup, and the image judge the runner gives convergence jobs.

A small CNN judges generated samples (accuracy against the prompt's subgroup) and provides the
feature space for a Fréchet distance against the data; `studio.lab.classifier` trains it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from studio.core.paths import assets_dir

FEATURES = 128
IMAGE_SHAPE = (32, 32, 3)


def classifier_dir() -> Path:
    """Where the subgroup classifier ships: assets/eval/subgroup-classifier."""
    return assets_dir() / "eval" / "subgroup-classifier"


class ImageJudge(Protocol):
    """Names the class of each of N uint8 HxWx3 images (e.g. an emoji's subgroup), or None
    when it cannot judge them; convergence jobs compare its answers with the reference's."""

    def __call__(self, images: np.ndarray) -> np.ndarray | None: ...


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
    """A trained SubgroupNet with its label vocabulary, saved and loaded as one folder."""

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


class SubgroupJudge:
    """Names the Unicode subgroup of 32x32 emoji images, loading the classifier on first use;
    answers None when its weights are missing or the images are another size."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or classifier_dir()
        self._classifier: Classifier | None = None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return (self.folder / "classifier.safetensors").is_file()

    def __call__(self, images: np.ndarray) -> np.ndarray | None:
        if images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE or not self.available:
            return None
        with self._lock:
            if self._classifier is None:
                self._classifier = Classifier.load(self.folder)
        ids, _ = self._classifier.predict(images)
        return ids
