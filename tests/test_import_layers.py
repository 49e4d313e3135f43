"""The import graph of ``autoprune/``: no cycles, and each layer imports only the layers below it.

Every ``import`` counts, the ones inside functions too: a lazy import still ties two modules
together, it only hides the tie until run time. The layers are the ones docs/architecture.md
describes; a package not named in ``LAYERS`` belongs to the base layer.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Highest first. A module may import modules of its own layer or of any layer below it
# (transitively too: a path through a lower layer back up is an upward import). An entry
# names a package or a module under autoprune; the longest entry that holds a module wins.
# ``export`` itself is the export format (base: models and autoprune.load read it); only
# ``export.trial``, exporting a search's trial, stands on validation.
LAYERS = (
    ("cli",),
    ("commands",),
    ("study",),
    ("pipeline",),
    ("export.trial",),
    ("search", "validate"),  # siblings: neither imports the other
    ("run",),
)
# (importer, what it must not reach), besides the layer order
APART = (("search", "validate"), ("validate", "search"), ("export", "search"), ("export", "pipeline"))


def module_files(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``package_dir``."""
    found = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imported_names(module: str, path: Path) -> set[str]:
    """Every dotted name ``module`` imports, anywhere in the file (function bodies included)."""
    is_package = path.name == "__init__.py"
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([base] if base else []))
            # ``from pkg import name``: the submodule pkg.name when there is one, else pkg (import_graph)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """module -> the modules of the same package its imports load.

    Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` too; those count, except
    packages that enclose the importing module itself (Python has them loaded already).
    """
    files = module_files(package_dir)
    graph = {}
    for module, path in files.items():
        targets = set()
        for name in _imported_names(module, path):
            while name and name not in files:  # ``from pkg import function``: the module is pkg
                name = name.rpartition(".")[0]
            if not name:
                continue
            targets.add(name)
            targets.update(a for a in _ancestors(name) if a in files and a not in _ancestors(module))
        targets.discard(module)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def reachable(graph: dict[str, set[str]], start: str) -> dict[str, str]:
    """module -> the module that first imported it, for everything ``start`` loads."""
    came_from, todo = {}, [start]
    while todo:
        node = todo.pop()
        for child in sorted(graph.get(node, ())):
            if child not in came_from and child != start:
                came_from[child] = node
                todo.append(child)
    return came_from


def path_to(came_from: dict[str, str], start: str, end: str) -> list[str]:
    chain = [end]
    while chain[-1] != start:
        chain.append(came_from[chain[-1]])
    return chain[::-1]


def _relative(module: str) -> str:
    return module.partition(".")[2]


def _entry(module: str) -> str | None:
    """The longest LAYERS entry holding ``module`` (None: the base layer)."""
    rel = _relative(module)
    held = [e for layer in LAYERS for e in layer if rel == e or rel.startswith(e + ".")]
    return max(held, key=len) if held else None


def layer_of(module: str) -> int:
    """0 for the highest layer; len(LAYERS) for the base layer."""
    entry = _entry(module)
    return next((level for level, entries in enumerate(LAYERS) if entry in entries), len(LAYERS))


def _top(module: str) -> str:
    """The package under autoprune a module is in ('' for autoprune itself)."""
    return _relative(module).split(".")[0]


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """'a imports b (a -> x -> b)' for every module that reaches a higher layer or a forbidden sibling."""
    problems = []
    for module in sorted(graph):
        if module == "autoprune":  # the package root is the public API: it may name anything
            continue
        came_from = reachable(graph, module)
        for target in sorted(came_from):
            if target == "autoprune":
                continue
            upward = layer_of(target) < layer_of(module)
            apart = (_top(module), _top(target)) in APART
            if upward or apart:
                problems.append(f"{module} imports {target} ({' -> '.join(path_to(came_from, module, target))})")
    return problems


@pytest.fixture(scope="module")
def graph():
    return import_graph(ROOT / "autoprune")


def test_no_import_cycle_in_autoprune(graph):
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_each_layer_imports_only_the_layers_below(graph):
    problems = layer_violations(graph)
    assert not problems, "\n".join(problems[:20])


def test_validate_and_export_never_import_search(graph):
    for module in graph:
        if _top(module) in ("validate", "export"):
            loaded = reachable(graph, module)
            assert not [m for m in loaded if _top(m) in ("search", "pipeline")], module


def test_the_checks_catch_a_cycle_through_a_lazy_import_and_an_upward_import(tmp_path):
    package = tmp_path / "autoprune"
    (package / "run").mkdir(parents=True)
    (package / "search").mkdir()
    (package / "__init__.py").write_text("")
    (package / "run" / "__init__.py").write_text("")
    (package / "search" / "__init__.py").write_text("")
    (package / "run" / "context.py").write_text("def build():\n    from autoprune.search.runner import go\n")
    (package / "search" / "runner.py").write_text("from autoprune.run.context import build\n\ndef go():\n    pass\n")
    fake = import_graph(package)
    assert cycles(fake) == [["autoprune.run.context", "autoprune.search.runner"]]
    assert layer_violations(fake) == [
        "autoprune.run.context imports autoprune.search (autoprune.run.context -> autoprune.search)",
        "autoprune.run.context imports autoprune.search.runner (autoprune.run.context -> autoprune.search.runner)",
    ]
