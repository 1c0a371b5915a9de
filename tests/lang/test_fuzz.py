"""Fuzzing the front end: whatever the text, parsing and compiling ends in success or a DanaflowError
with a place, never an internal error (a lark exception, RecursionError, a Python SyntaxError).

Inputs are token soup, raw text from a Dana-ish alphabet, and mutations of the valid programs in
``testdata/``. Hypothesis profiles bound the work: ``ci`` (when ``CI`` is set) and ``dev`` run a
few hundred examples per test; ``DANAFLOW_FUZZ_EXAMPLES=N`` runs N (for a long local hunt).
Each call runs under an alarm, so a hang fails with the input instead of stalling the suite.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from danaflow.errors import DanaflowError, DanaSyntaxError
from danaflow.lang.api import check, compile_expression

pytestmark = pytest.mark.fuzz

TESTDATA = Path(__file__).parent / "testdata"
FILENAME = "fuzz.na"
HANG_S = 20
"""A hang guard, not a timing assertion: one check of a small input takes milliseconds."""

_common = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much]}
settings.register_profile("ci", max_examples=300, derandomize=True, **_common)
settings.register_profile("dev", max_examples=200, **_common)
_hunt_examples = int(os.environ.get("DANAFLOW_FUZZ_EXAMPLES", "200"))
settings.register_profile("hunt", max_examples=_hunt_examples, **_common)
PROFILE = settings.get_profile(
    "hunt" if "DANAFLOW_FUZZ_EXAMPLES" in os.environ else "ci" if os.environ.get("CI") else "dev"
)


class Hang(Exception):
    """The front end ran past ``HANG_S`` on one input."""


@contextmanager
def hang_guard() -> Iterator[None]:
    def fire(signum: int, frame: object) -> None:
        raise Hang(f"no answer after {HANG_S} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, HANG_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def assert_front_end_is_clean(source: str) -> None:
    """The property: check() succeeds or raises a DanaflowError that says where."""
    if "\n" not in source:
        source += "\n"  # a one-line source ending in ".na" would be read as a path
    try:
        with hang_guard():
            check(source, filename=FILENAME)
    except DanaflowError as err:
        assert err.location is not None, f"{type(err).__name__} without a location: {err}"
        assert err.location.file == FILENAME, str(err)
        assert err.location.line >= 1, str(err)
        if isinstance(err, DanaSyntaxError):
            assert err.location.col >= 1, str(err)
        str(err)  # rendering the message and caret must not fail either


def assert_expression_is_clean(source: str) -> None:
    try:
        with hang_guard():
            compile_expression(source, filename="t.na", line=3, col=7)
    except DanaflowError as err:
        assert err.location is not None, f"{type(err).__name__} without a location: {err}"
        assert err.location.line >= 3, str(err)
        if isinstance(err, DanaSyntaxError):
            assert err.location.col >= 1, str(err)
        str(err)


# ---- strategies ---------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


TOKENS = [
    *_words("if elif else for while in not and or is def return pass break continue try except finally"),
    *_words("raise assert import from as with lambda struct interface true false null none True False None"),
    *_words("x y _z n1 print len range reason log str int float list dict Point self"),
    *_words("private:a public:b local:c system:d private: $$"),
    *_words("0 1 42 007 0x1F 0o7 0b101 1_000 3.14 .5 1e10 1e-3 10**9"),
    *['"s"', "'t'", '"""doc"""', "'''x'''", 'f"{x}"', "f'{x!r:>{w}}'", 'f"{', 'f"}"', 'r"\\d"', 'b"x"'],
    *['"\\', '"\\x"', '"\\N{foo}"', '"unterminated', "'''open"],
    *_words("( ) [ ] { } , : :: ; . = == != < > <= >= + - * / // % ** @ | ^ & ~ << >> -> += -= *= |="),
    *["\n", "\n", "\n", "    ", "\t", "  ", " ", "\\\n", "# comment\n", "\r\n", "\f", "\x0b"],
    *["é", "λ", "\u2028", "\ufeff", "🙂", "\x00", "\x7f"],
]

ALPHABET = "abcxyz_019 \t\n\n\n():[]{},.=+-*/%<>!\"'#\\$|&^~@fr"

token_soup = st.lists(st.sampled_from(TOKENS), max_size=60).map(" ".join) | st.lists(
    st.sampled_from(TOKENS), max_size=60
).map("".join)
raw_text = st.text(alphabet=ALPHABET, max_size=200) | st.text(max_size=120)


def _valid_programs() -> list[str]:
    programs = []
    for path in sorted(TESTDATA.glob("*.na")):
        chunk: list[str] = []
        for line in [*path.read_text().splitlines(keepends=True), "---\n"]:
            if line.rstrip("\r\n") != "---":
                chunk.append(line)
                continue
            text = "".join(chunk)
            chunk = []
            if text.strip() and "###" not in text:
                programs.append(text)
    return programs


PROGRAMS = _valid_programs()


@st.composite
def mutated_program(draw: st.DrawFn) -> str:
    """A valid program with a few edits: spans deleted, duplicated or moved, tokens inserted,
    lines re-indented, the text cut short."""
    text = draw(st.sampled_from(PROGRAMS))
    for _ in range(draw(st.integers(1, 4))):
        n = len(text)
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + 40)))
        op = draw(st.sampled_from(["delete", "duplicate", "insert", "move", "indent", "truncate"]))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        elif op == "insert":
            text = text[:i] + draw(st.sampled_from(TOKENS)) + text[i:]
        elif op == "move":
            span, rest = text[i:j], text[:i] + text[j:]
            k = draw(st.integers(0, len(rest)))
            text = rest[:k] + span + rest[k:]
        elif op == "indent":
            lines = text.split("\n")
            k = draw(st.integers(0, len(lines) - 1))
            lines[k] = draw(st.sampled_from(["", " ", "  ", "   ", "\t", "        "])) + lines[k].lstrip()
            text = "\n".join(lines)
        else:
            text = text[:i]
    return text


NESTERS = [
    ("(", ")"),
    ("[", "]"),
    ("{", "}"),
    ("{'k': ", "}"),
    ("f(", ")"),
    ("-", ""),
    ("not ", ""),
    ("lambda: ", ""),
    ("1 + ", ""),
    ("2 ** ", ""),
    ("1 if c else ", ""),
    ("", ".real"),
    ("", "()"),
    ("", "[0]"),
    ("(1 + ", ")"),
    ('f"{', '}"'),
]
BLOCK_HEADS = ["if x:", "while x:", "for i in x:", "try:", "def f():", "with x:", "else:"]


@st.composite
def deep_or_big(draw: st.DrawFn) -> str:
    """Inputs near the front end's limits: nesting around depth 1,000 of every kind, deep blocks,
    integer literals around Python's 4,300-digit limit."""
    kind = draw(st.sampled_from(["nest", "mixed", "blocks", "digits"]))
    if kind == "nest":
        opener, closer = draw(st.sampled_from(NESTERS))
        n = draw(st.integers(200, 1100))
        return "x = " + opener * n + "1" + closer * n
    if kind == "mixed":
        pairs = draw(st.lists(st.sampled_from(NESTERS), min_size=1, max_size=1100))
        return "x = " + "".join(o for o, _ in pairs) + "1" + "".join(c for _, c in reversed(pairs))
    if kind == "blocks":
        heads = draw(st.lists(st.sampled_from(BLOCK_HEADS), min_size=1, max_size=1100))
        step = draw(st.sampled_from([" ", "    ", "\t"]))
        lines = [step * i + head for i, head in enumerate(heads)]
        return "\n".join([*lines, step * len(heads) + "pass"])
    return "x = " + draw(st.sampled_from(["", "-", "0x", "1."])) + "7" * draw(st.integers(4200, 4400))


# ---- the properties -----------------------------------------------------------------------------


def test_the_mutation_corpus_is_the_conformance_suite() -> None:
    assert len(PROGRAMS) >= 50
    for program in PROGRAMS[:20]:
        check(program + "\n", filename=FILENAME)  # the seeds themselves compile


@PROFILE
@given(token_soup)
@example("if x:\n        a = 1\n    b = 2\n")  # a dedent to no enclosing block (lark's DedentError)
@example("x = " + "[" * 245 + "]" * 245)
@example("*a, *b = [1, 2]\n")
@example("x = " + "9" * 4400)
@example("x = 1\x00\n")
def test_token_soup(source: str) -> None:
    assert_front_end_is_clean(source)


@PROFILE
@given(raw_text)
def test_raw_text(source: str) -> None:
    assert_front_end_is_clean(source)


@PROFILE
@given(mutated_program())
def test_mutated_programs(source: str) -> None:
    assert_front_end_is_clean(source)


@settings(PROFILE, max_examples=max(PROFILE.max_examples // 10, 20))
@given(deep_or_big())
def test_deep_and_big_inputs(source: str) -> None:
    assert_front_end_is_clean(source)


@PROFILE
@given(token_soup | raw_text)
def test_expressions(source: str) -> None:
    assume(source.strip())
    assert_expression_is_clean(source)
