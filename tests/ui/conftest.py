"""Fixtures for the widget tests: the view-model tests' engine, gallery folder and session, and
a models folder holding only the embedded teacher."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.core import model_resolver
from studio.core.models import EMBEDDED_TEACHER
from tests.viewmodels.fixtures import engine, session, store

__all__ = ["engine", "session", "shipped_models", "store"]


@pytest.fixture(autouse=True)
def shipped_models(tmp_path_factory, monkeypatch) -> Path:
    """A models folder holding only the embedded teacher, whatever the checkout has installed."""
    root = tmp_path_factory.mktemp("models")
    (root / EMBEDDED_TEACHER).mkdir()
    (root / EMBEDDED_TEACHER / "model_index.json").write_text('{"_class_name": "EmojiPipeline"}')
    monkeypatch.setattr(model_resolver, "models_dir", lambda: root)
    return root
