"""Who may import whom (DESIGN.md): mechanisms imports no other project
package; agents imports mechanisms (the equilibrium solver plays a rule
through ``run_batch``) but never simulator or rlhf; rlhf never imports
simulator, agents or mechanisms."""

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
