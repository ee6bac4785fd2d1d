"""No import cycle anywhere in `studio`, counting every import statement (module level, in a
function, under TYPE_CHECKING): a lazy import may delay work, never hide a cycle."""

from __future__ import annotations

from tests.import_graph import cycles, studio_imports


def test_studio_has_no_import_cycle() -> None:
    assert cycles(studio_imports()) == []


def test_the_cycle_search_finds_a_cycle() -> None:
    imports = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(imports) == [["a", "b", "c"]]


def test_the_cycle_search_sees_a_function_level_import(tmp_path, monkeypatch) -> None:
    package = tmp_path / "studio_probe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from studio_probe import b\n")
    (package / "b.py").write_text("def late():\n    from studio_probe import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import grimp

    graph = grimp.build_graph("studio_probe", cache_dir=None)
    imports = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    assert cycles(imports) == [["studio_probe.a", "studio_probe.b"]]
