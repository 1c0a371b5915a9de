"""Layers never import upward (STYLE.md).

errors <- lang <- llm, template <- context <- flow <- runs <- planning, cli.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "danaflow"

# Each layer and the layers it may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "observability": {"errors"},
    "lang": {"errors", "observability"},
    "llm": {"errors", "lang", "observability"},
    "template": {"errors", "lang", "observability"},
    "context": {"errors", "lang", "llm", "template", "observability"},
    "flow": {"errors", "lang", "llm", "template", "context", "observability"},
    "runs": {"errors", "lang", "llm", "template", "context", "flow", "observability"},
    "planning": {"errors", "lang", "llm", "template", "context", "flow", "runs", "observability"},
    "testing": {"errors", "lang", "llm", "observability"},
    "ui": {"errors", "lang", "llm", "template", "context", "flow", "runs", "observability"},
}
TOP = {"api", "cli", "launcher", "repl", "__init__"}  # the top of the stack may import anything


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_no_module_imports_a_higher_layer() -> None:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = _layer(path)
        if layer in TOP:
            continue
        allowed = ALLOWED[layer] | {layer}
        for line, module in _imports(path):
            parts = module.split(".")
            if parts[0] != "danaflow" or len(parts) < 2:
                continue
            target = parts[1]
            if target not in allowed:
                problems.append(f"{path.relative_to(PACKAGE)}:{line}: {layer} imports {module}")
    assert not problems, "\n".join(problems)
