"""No import cycle between our apps, and none inside the assistant, chat or tickets.

import-linter (.importlinter, run by `make test`) checks the layers; this builds the same module
graph with grimp and looks for strongly connected components, which a layers contract does not.
"""

from __future__ import annotations

import grimp

OUR_PACKAGES = ("assistant", "chat", "tickets", "orders", "knowledge", "whatsapp", "supportbot", "bench")
# Apps whose modules must not import each other in a circle even within the app.
ACYCLIC_INSIDE = {"assistant", "chat", "tickets"}


def _import_cycles() -> list[list[str]]:
    """Modules (tests and migrations aside) that import each other in a circle, one list per cycle."""
    graph = grimp.build_graph(*OUR_PACKAGES, exclude_type_checking_imports=True)
    modules = {name for name in graph.modules if ".tests" not in name and ".migrations" not in name}
    edges = {name: graph.find_modules_directly_imported_by(name) & modules for name in modules}
    # Tarjan's strongly connected components, iteratively (the graph is a few hundred modules deep).
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = lowlink[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = lowlink[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    lowlink[node] = min(lowlink[node], index[child])
                continue
            work.pop()
            if work:
                lowlink[work[-1][0]] = min(lowlink[work[-1][0]], lowlink[node])
            if lowlink[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_no_import_cycle_between_apps_or_inside_the_assistant_chat_and_tickets():
    cycles = _import_cycles()
    between_apps = [cycle for cycle in cycles if len({name.split(".")[0] for name in cycle}) > 1]
    inside = [cycle for cycle in cycles if {name.split(".")[0] for name in cycle} <= ACYCLIC_INSIDE]
    assert not between_apps, f"import cycles between apps: {between_apps}"
    assert not inside, f"import cycles inside the assistant, chat or tickets: {inside}"
