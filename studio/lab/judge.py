"""The subgroup classifier as the engine's image judge for convergence agreement."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from studio.lab.classifier import Classifier
from studio.lab.evaluate import classifier_dir

IMAGE_SHAPE = (32, 32, 3)


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
