"""How a Dana identifier is spelled in the Python the compiler generates, and back.

Generated code names its runtime helpers with a leading ``_`` (``_step``, ``_L``, ``_coerce``), and
Python gives ``__x__`` names meanings of its own. Dana programs may name things ``_helper`` or
``__all__`` too, so a user identifier starting with ``_`` is renamed to ``PREFIX + name``: the
prefix holds a character Dana's grammar cannot spell (identifiers are ASCII), so the renamed name
can meet neither a helper nor a dunder nor another user name. Everything a user reads (error
messages, the call stack, ``local:`` after a run, a module's names) is turned back first.
"""

from __future__ import annotations

__all__ = ["PREFIX", "py_name", "user_name", "user_text"]

PREFIX = "dana\u00b7"
"""``dana·``: U+00B7 MIDDLE DOT continues a Python identifier, and NFKC leaves it as it is."""


def py_name(name: str) -> str:
    """The Python identifier of the Dana identifier ``name``."""
    return PREFIX + name if name[:1] == "_" else name


def user_name(name: str) -> str:
    """The Dana spelling of a generated Python identifier (``py_name``'s inverse)."""
    return name[len(PREFIX) :] if name.startswith(PREFIX) else name


def user_text(text: str) -> str:
    """``text`` (an error message Python wrote about generated code) in the user's spelling."""
    return text.replace(PREFIX, "") if PREFIX in text else text
