"""The ``$var{}``/``$expr{}``/``$hier{}`` template engine (DESIGN §5)."""

from __future__ import annotations

from .engine import ObjectTemplate, TemplateEngine, TemplateScope, to_text
from .prompt import Prompt
from .scanner import Ref, Text, hier_refs, scan

__all__ = [
    "ObjectTemplate",
    "Prompt",
    "Ref",
    "TemplateEngine",
    "TemplateScope",
    "Text",
    "hier_refs",
    "scan",
    "to_text",
]
