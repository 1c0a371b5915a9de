"""Keeping file-system nodes inside their base directory, and reading node inputs.

Both FileOperationNode and FolderAnalyzerNode take user- or LLM-supplied relative paths; every
one goes through ``inside`` so ``../`` tricks, absolute paths and symlinks cannot leave the base.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from danaflow.errors import ComponentError

__all__ = ["input_variables", "inside"]


def inside(base: Path, relative: str | Path, path: str) -> Path:
    """``base / relative`` resolved, or ComponentError (naming the node ``path``) if it escapes."""
    base = base.resolve()
    target = (base / relative).resolve()
    if target != base and base not in target.parents:
        raise ComponentError(f"path {str(relative)!r} escapes the base directory {base}: refused", path=path)
    return target


def input_variables(node_input: Any) -> dict[str, Any]:
    """The template variables a node input supplies: its ``prompt_variables`` or ``variables``
    entry, or the mapping itself.
    """
    if isinstance(node_input, dict):
        for key in ("prompt_variables", "variables"):
            if isinstance(node_input.get(key), dict):
                return dict(node_input[key])
        return dict(node_input)
    inner = getattr(node_input, "prompt_variables", None)
    if isinstance(inner, dict):
        return dict(inner)
    return {}
