"""Underscore identifiers are the program's own names: attacks that try to use them to reach the
host's ``__builtins__``, ``__import__``, module dunders or the runtime's helpers (kept from the
closing review of the session that allowed ``_`` identifiers)."""

from __future__ import annotations

import re

import pytest

import danaflow


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("return __builtins__", r"SandboxError: __builtins__\(\) is not available"),
        ("return __import__('os')", r"SandboxError: __import__\(\) is not available"),
        ("return __spec__", r"SandboxError: __spec__\(\) is not available"),
        ("return __loader__", r"SandboxError: __loader__\(\) is not available"),
        ("return __dict__", r"NameError: name '__dict__' is not defined"),
        ("return _step", r"NameError: name '_step' is not defined"),
        ("return __name__.__class__", r"SandboxError: attribute '__class__' is not allowed"),
        ("def _f():\n    return 1\nreturn _f.__globals__", r"attribute '__globals__' is not allowed"),
        ("_s = '{0.__class__}'\nreturn _s.format(1)", r"format field '0.__class__' is not"),
        ("dana·_G = 1\nreturn dana·_G", r"SyntaxError: got unexpected character '·'"),
    ],
)
def test_an_underscore_name_never_reaches_the_host(source, error):
    outcome = danaflow.run(source)
    assert outcome.error is not None and outcome.value is None
    assert re.search(error, str(outcome.error)), str(outcome.error)


def test_a_dunder_the_program_assigns_is_only_its_own_variable():
    outcome = danaflow.run("__import__ = 5\n__builtins__ = {'open': 1}\nreturn [__import__, __builtins__]")
    assert outcome.error is None and outcome.value == [5, {"open": 1}]
    # ...and the next program sees the real refusals again, not the values above.
    again = danaflow.run("return __import__('os')")
    assert again.error is not None and "is not available" in str(again.error)
