"""Fixtures shared by the view-model and the widget tests: a scripted engine, a gallery folder,
and a session on them. Each folder's conftest imports them."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from studio.core.gallery import GalleryStore
from studio.viewmodels.session import SessionViewModel
from tests.viewmodels.fake_engine import FakeEngine


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def store(tmp_path: Path) -> GalleryStore:
    return GalleryStore(tmp_path / "gallery")


@pytest.fixture
def session(qapp, engine: FakeEngine, store: GalleryStore) -> SessionViewModel:
    return SessionViewModel(engine, store, rng=random.Random(7))
