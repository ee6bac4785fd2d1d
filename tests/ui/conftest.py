"""Fixtures for the view-model tests: a scripted engine, a gallery folder, a session."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from studio.core.gallery import GalleryStore
from studio.core.models import EMBEDDED_TEACHER
from studio.ui import model_pairs
from studio.viewmodels.session import SessionViewModel
from tests.ui.fake_engine import FakeEngine


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def store(tmp_path: Path) -> GalleryStore:
    return GalleryStore(tmp_path / "gallery")


@pytest.fixture
def session(qapp, engine: FakeEngine, store: GalleryStore) -> SessionViewModel:
    return SessionViewModel(engine, store, rng=random.Random(7))


@pytest.fixture(autouse=True)
def shipped_models(tmp_path_factory, monkeypatch) -> Path:
    """A models folder holding only the embedded teacher, whatever the checkout has installed."""
    root = tmp_path_factory.mktemp("models")
    (root / EMBEDDED_TEACHER).mkdir()
    (root / EMBEDDED_TEACHER / "model_index.json").write_text('{"_class_name": "EmojiPipeline"}')
    monkeypatch.setattr(model_pairs, "models_dir", lambda: root)
    return root
