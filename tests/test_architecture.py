"""The layers of docs/architecture.md, checked on the source: imports point one way, down.

Every import counts, at the top of a module or inside a function: an import circle
hidden in a function is still a circle for the reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("panel_addon", "workers")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project's modules that `name` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join([*base, *(node.module.split(".") if node.module else [])])
            else:
                stem = node.module or ""
            targets.add(stem)
            targets.update(f"{stem}.{alias.name}" for alias in node.names)
    resolved = set()
    for target in targets:
        # The deepest project module the import names (a name imported from a module
        # counts as that module).
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            resolved.add(target)
    return resolved


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _is_parent(package: str, module: str) -> bool:
    return module.startswith(package + ".")


def test_no_module_imports_itself_through_others() -> None:
    graph = _graph()
    # A package's __init__ may gather its own modules (effects' table does): that edge
    # points down, not round.
    edges = {
        name: {t for t in targets if not _is_parent(name, t)} for name, targets in graph.items()
    }
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_layers_point_down() -> None:
    graph = _graph()
    below = {
        # the policy as data: nothing of ours but its own package
        "panel_addon.domain.states": set(),
        "panel_addon.domain": {"panel_addon.effects", "panel_addon.web", "workers"},
        "panel_addon.outbox": {"panel_addon.domain", "panel_addon.effects", "workers"},
        "panel_addon.effects": {"panel_addon.web", "workers"},
        "panel_addon.web": {"panel_addon.effects", "workers"},
        # the app factory (panel_addon/__init__.py) alone puts the web layer together
        "panel_addon": {"panel_addon.web", "workers"},
    }
    wrong = []
    for name, targets in graph.items():
        if name == "panel_addon":
            continue  # create_app: it assembles every layer
        for layer, forbidden in below.items():
            if name == layer or _is_parent(layer, name):
                for target in targets:
                    if any(target == f or _is_parent(f, target) for f in forbidden):
                        wrong.append(f"{name} imports {target}")
                if layer == "panel_addon.domain.states":
                    wrong.extend(f"{name} imports {t}" for t in targets)
                break
    assert wrong == []
