"""The view side's arrows: no view-model imports a widget module (the no-cycle rule for all of
`studio` is tests/test_import_graph.py)."""

from __future__ import annotations

from tests.import_graph import studio_imports


def test_view_models_import_no_widget_module() -> None:
    imports = studio_imports("studio.ui", "studio.viewmodels")
    wrong = {m: sorted(n for n in imports[m] if n.startswith("studio.ui")) for m in imports}
    assert {m: n for m, n in wrong.items() if m.startswith("studio.viewmodels") and n} == {}
