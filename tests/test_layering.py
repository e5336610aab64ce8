"""The layers import downwards only: domain (pure) ← store ← services ← api/dashboard, and the
engine uses domain and store (plus the execution service it shares with the worker API)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[1] / "src" / "chronos" / "server"

# layer → packages it must not import
FORBIDDEN = {
    "domain": ("store", "services", "engine", "api", "dashboard"),
    "store": ("services", "engine", "api", "dashboard"),
    "engine": ("services", "api", "dashboard"),
}
# The dispatcher and the lease rescuer finish executions the way a worker's report does.
ALLOWED = {"chronos.server.services.executions"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_does_not_import_the_layers_above_it(layer: str) -> None:
    bad = []
    for path in sorted((SERVER / layer).rglob("*.py")):
        for module in _imports(path):
            for above in FORBIDDEN[layer]:
                if module.startswith(f"chronos.server.{above}") and module not in ALLOWED:
                    bad.append(f"{path.relative_to(SERVER)} imports {module}")
    assert bad == []
