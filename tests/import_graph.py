"""The studio's import graph as grimp reads it: every import statement counts (module level, in a
function, under TYPE_CHECKING), so a lazy import cannot hide a cycle."""

from __future__ import annotations

import grimp


def studio_imports(*prefixes: str) -> dict[str, set[str]]:
    """Each studio module (under `prefixes`, or all) and the studio modules it imports directly."""
    graph = grimp.build_graph("studio", cache_dir=None)
    wanted = prefixes or ("studio",)
    modules = {m for m in graph.modules if m.startswith(wanted)}
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
