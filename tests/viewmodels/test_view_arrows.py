"""The view side's arrows: no import cycle among the widget and view-model modules, and no
view-model that imports a widget module. Every import statement counts (module level, in a
function, under TYPE_CHECKING), as grimp reads them."""

from __future__ import annotations

import grimp

VIEW_SIDE = ("studio.ui", "studio.viewmodels")


def view_side_imports() -> dict[str, set[str]]:
    graph = grimp.build_graph("studio", cache_dir=None)
    modules = {m for m in graph.modules if m.startswith(VIEW_SIDE)}
    return {m: graph.find_modules_directly_imported_by(m) & modules for m in modules}


def cycles(imports: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(imports):
        if root in index:
            continue
        work = [(root, iter(sorted(imports[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(imports[child]))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = stack[stack.index(node) :]
                del stack[stack.index(node) :]
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def test_the_view_side_has_no_import_cycle() -> None:
    assert cycles(view_side_imports()) == []


def test_the_cycle_search_finds_a_cycle() -> None:
    imports = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(imports) == [["a", "b", "c"]]


def test_view_models_import_no_widget_module() -> None:
    imports = view_side_imports()
    wrong = {m: sorted(n for n in imports[m] if n.startswith("studio.ui")) for m in imports}
    assert {m: n for m, n in wrong.items() if m.startswith("studio.viewmodels") and n} == {}
