"""Fixtures for the view-model tests: a scripted engine, a gallery folder, a session."""

from __future__ import annotations

from tests.viewmodels.fixtures import engine, session, store

__all__ = ["engine", "session", "store"]
