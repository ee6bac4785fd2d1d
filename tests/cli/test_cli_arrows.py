"""The cli package's arrows: only the entry points import the root that assembles the command
groups (the no-cycle rule for all of `studio` is tests/test_import_graph.py)."""

from __future__ import annotations

import grimp

ENTRY_POINTS = {"studio.__main__"}


def test_only_entry_points_import_the_cli_root() -> None:
    graph = grimp.build_graph("studio", cache_dir=None)
    importers = graph.find_modules_that_directly_import("studio.cli")
    assert importers <= ENTRY_POINTS
