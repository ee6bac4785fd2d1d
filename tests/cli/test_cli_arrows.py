"""The cli package's arrows: no import cycle runs through a cli module, and only the entry
points import the root that assembles the command groups. Every import statement counts
(module level, in a function, under TYPE_CHECKING), as grimp reads them."""

from __future__ import annotations

import grimp

ENTRY_POINTS = {"studio.__main__"}


def test_no_import_cycle_runs_through_a_cli_module() -> None:
    graph = grimp.build_graph("studio", cache_dir=None)
    loops = {
        module: graph.find_shortest_chain(importer=imported, imported=module)
        for module in graph.modules
        if module.startswith("studio.cli")
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.chain_exists(importer=imported, imported=module)
    }
    assert loops == {}


def test_only_entry_points_import_the_cli_root() -> None:
    graph = grimp.build_graph("studio", cache_dir=None)
    importers = graph.find_modules_that_directly_import("studio.cli")
    assert importers <= ENTRY_POINTS
