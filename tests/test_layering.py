"""Who may import whom (DESIGN.md): mechanisms imports no other project
package; agents imports mechanisms (the equilibrium solver plays a rule
through ``run_batch``) but never simulator or rlhf; rlhf never imports
simulator, agents or mechanisms; inside simulator, market imports no other
sub-package, experiments imports market and analysis.statistics, analysis
imports market and experiments (the paper's claims run their grids with the
sweep runner; reports read the store), app imports any of them; and no
module imports another in a cycle. Imports inside functions count
everywhere."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "mechanisms": {"simulator", "agents", "rlhf"},
    "agents": {"simulator", "rlhf"},
    "rlhf": {"simulator", "agents", "mechanisms"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_respect_the_layering(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    for f in files:
        bad = _imports(f) & FORBIDDEN[package]
        assert not bad, f"{f.relative_to(ROOT)} imports {bad}"


def test_mechanisms_know_nothing_of_mesa():
    for f in (ROOT / "mechanisms").rglob("*.py"):
        assert "mesa" not in _imports(f), f


def _module_graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports, counting imports
    inside functions (a deferred import is still a dependency)."""
    files = {}
    for package in ("mechanisms", "agents", "rlhf", "simulator"):
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            files[".".join(parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = here[: len(here) - (node.level - 1)]
                    base = ".".join([*pkg, base] if base else pkg)
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names
                ]
            else:
                continue
            deps |= {t for t in targets if t in files and t != name}
        graph[name] = deps
    return graph


SIMULATOR_LAYERS = {
    "simulator.market": ("simulator.market", "simulator.files"),
    "simulator.experiments": (
        "simulator.market", "simulator.experiments", "simulator.analysis.statistics",
        "simulator.files",
    ),
    "simulator.analysis": (
        "simulator.market", "simulator.analysis", "simulator.experiments", "simulator.files",
    ),
    "simulator.app": (
        "simulator.market", "simulator.experiments", "simulator.analysis", "simulator.app",
        "simulator.files",
    ),
}  # fmt: skip
"""Sub-package -> the parts of simulator its modules may import."""
SIMULATOR_TOP = {
    "simulator": ("simulator.market", "simulator.experiments", "simulator.analysis"),
    "simulator.__main__": ("simulator.app",),
    "simulator.files": (),
    "simulator.sweeps": ("simulator.experiments",),
    "simulator.claims": ("simulator.analysis",),
}
"""The modules at the top of simulator (the package, the shared atomic writer
and the compatibility names) -> what they may import. Nothing else lives there:
a new module goes into the sub-package whose job it is."""


def _within(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_simulator_sub_packages_respect_their_layers():
    graph = _module_graph()
    simulator = sorted(m for m in graph if _within(m, ["simulator"]))
    assert "simulator.market.model" in simulator and "simulator.app.cli" in simulator
    for module in simulator:
        if module in SIMULATOR_TOP:
            allowed = SIMULATOR_TOP[module]
        else:
            layer = [p for p in SIMULATOR_LAYERS if _within(module, [p])]
            assert layer, f"{module} is in no sub-package of simulator (see SIMULATOR_TOP)"
            allowed = SIMULATOR_LAYERS[layer[0]]
        bad = {d for d in graph[module] if _within(d, ["simulator"]) and not _within(d, allowed)}
        assert not bad, f"{module} imports {sorted(bad)}; it may import only {allowed}"


def test_no_import_cycles_between_modules():
    graph = _module_graph()
    assert "simulator.market.model" in graph and graph["simulator.analysis.report"]
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep) :], dep] if dep in path else [node, dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
