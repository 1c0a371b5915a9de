"""The run viewer in the browser (``danaflow ui``): runs, components, traces, input, resume.

Needs the ``ui`` extra (Starlette, Jinja2, uvicorn); nothing here is imported by ``import
danaflow``, and the names below load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import UIConfig, create_app
    from .serve import serve

__all__ = ["UIConfig", "create_app", "serve"]

_MODULES = {"UIConfig": "app", "create_app": "app", "serve": "serve"}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'danaflow.ui' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
