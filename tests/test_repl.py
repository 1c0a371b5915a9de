"""The REPL: which inputs are complete, and state kept between them."""

from __future__ import annotations

import pytest

from danaflow.lang.sandbox import SandboxContext
from danaflow.repl import Repl, needs_more


@pytest.mark.parametrize(
    ("text", "more"),
    [
        ("x = 1\n", False),
        ("if x:\n", True),
        ("if x:\n    y = 1\n", True),
        ("if x:\n    y = 1\n\n", False),
        ("f(1,\n", True),
        ("f(1,\n  2)\n", False),
        ('s = "(not a bracket"\n', False),
        ("x = 1 + \\\n", True),
    ],
)
def test_needs_more(text: str, more: bool) -> None:
    assert needs_more(text) is more


def test_inputs_share_one_context_and_values_are_echoed() -> None:
    out: list[str] = []
    repl = Repl(SandboxContext(), write=out.append)
    lines = iter(["count = 1", "def bump(n):", "    return n + 1", "", "bump(count)", "print(missing)"])

    def read(prompt: str) -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    for source in repl._inputs(read):
        repl.execute(source)
    text = "".join(out)
    assert "2\n" in text
    assert "NameError: name 'missing' is not defined" in text
    assert repl.context.get("local:count") == 1
