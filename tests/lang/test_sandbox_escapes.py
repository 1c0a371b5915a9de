"""Known Python-sandbox escape attempts, each of which the Dana sandbox must refuse.

Every attempt is a small program. It must fail with a SandboxError (refused while running) or a
DanaSyntaxError (refused at compile time) whose message names what was refused, at the line
marked ``# <-``, and nothing may escape: the program never reaches its ``print("ESCAPED")``, no
file appears at SENTINEL (a path under tmp_path that payloads try to create), and no module,
frame, code object, traceback or dangerous builtin ends up in any scope of the context.

A few harmless neighbours of the escapes (``e.args``, ``type(x).__name__``, ``"{0}".format``)
are checked to stay allowed, so the refusals are about real escapes and not blanket bans.

These are the classic Python escapes. The redesigned boundary (issue 9) is attacked by category in
test_sandbox_categories.py (type strings, curated-module classes, host objects, hooks, process-wide
state), test_sandbox_credentials.py, test_sandbox_limits.py, test_sandbox_nodes.py (CommandNode,
result()), test_sandbox_confine.py (the OS walls) and test_sandbox_worker_protocol.py (a hostile
worker against the host).
"""

from __future__ import annotations

import builtins
import collections
import json
import math
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from danaflow.errors import DanaNameError, DanaSyntaxError, SandboxError
from danaflow.lang.api import run
from danaflow.lang.sandbox import SandboxContext

ALLOWED_MODULES = {
    "math",
    "json",
    "re",
    "datetime",
    "random",
    "statistics",
    "itertools",
    "functools",
    "collections",
}
DANGEROUS_BUILTINS = {
    id(getattr(builtins, n))
    for n in (
        "open",
        "eval",
        "exec",
        "compile",
        "getattr",
        "setattr",
        "delattr",
        "globals",
        "vars",
        "locals",
        "input",
        "breakpoint",
        "help",
        "__import__",
        "exit",
        "quit",
    )
    if hasattr(builtins, n)
}


@dataclass(frozen=True)
class Escape:
    id: str
    source: str
    """The program; SENTINEL is replaced by a path, the line ending in ``# <-`` must be refused."""
    refused: str
    """A regex the error message must match: the name of what was refused."""


ESCAPES = [
    # ---- class hierarchy walks -------------------------------------------------------------
    Escape(
        "tuple-class-bases-subclasses",
        # The classic: from a literal to object, then to every loaded class (e.g. os._wrap_close).
        "subs = ().__class__.__bases__[0].__subclasses__()  # <-\nprint('ESCAPED', subs)\n",
        r"__class__",
    ),
    Escape(
        "list-class",
        # A literal's class is the first step of every walk.
        "k = [].__class__  # <-\nprint('ESCAPED', k)\n",
        r"__class__",
    ),
    Escape(
        "type-base",
        # type() is a builtin; its __base__ leads to object and its subclasses.
        "b = type(1).__base__  # <-\nprint('ESCAPED', b)\n",
        r"__base__",
    ),
    Escape(
        "type-mro",
        # mro() has no underscore, so a name-only check misses it; it yields object.
        "classes = type(1).mro()  # <-\nprint('ESCAPED', classes)\n",
        r"mro",
    ),
    Escape(
        "str-mro-unbound",
        # The same walk through a builtin type name instead of type().
        "classes = str.mro()  # <-\nprint('ESCAPED', classes)\n",
        r"mro",
    ),
    Escape(
        "type-three-args",
        # type(name, bases, dict) builds classes whose dunder methods come in as dict keys.
        't = type("T", (), {"x": 1})  # <-\nprint("ESCAPED", t)\n',
        r"type",
    ),
    Escape(
        "struct-mro",
        # A struct is a pydantic model class: its MRO reaches BaseModel and object.
        "struct Point:\n    x: int\nm = Point.__mro__  # <-\nprint('ESCAPED', m)\n",
        r"__mro__",
    ),
    Escape(
        "struct-init-globals",
        # A pydantic model's __init__ is a Python function with the module globals of pydantic.
        "struct Point:\n    x: int\ng = Point.__init__.__globals__  # <-\nprint('ESCAPED', g)\n",
        r"__init__|__globals__",
    ),
    Escape(
        "struct-instance-class",
        # The same through an instance.
        "struct Point:\n    x: int\np = Point(x=1)\nc = p.__class__  # <-\nprint('ESCAPED', c)\n",
        r"__class__",
    ),
    # ---- format-string attribute access --------------------------------------------------
    Escape(
        "str-format-class",
        # str.format resolves attributes inside the replacement field.
        'leak = "{0.__class__}".format(1)  # <-\nprint("ESCAPED", leak)\n',
        r"(?i)attribute|__class__",
    ),
    Escape(
        "str-format-auto-numbered",
        # The same with an automatically numbered field.
        'leak = "{.__class__.__base__}".format(1)  # <-\nprint("ESCAPED", leak)\n',
        r"(?i)attribute|__class__",
    ),
    Escape(
        "format-map-globals",
        # format_map with a function value: {x.__globals__} would print the module globals.
        "def f():\n    return 1\n"
        'leak = "{x.__globals__}".format_map({"x": f})  # <-\n'
        'print("ESCAPED", leak)\n',
        r"(?i)attribute|__globals__",
    ),
    Escape(
        "unbound-str-format",
        # str.format called unbound, so a check on `"literal".format(...)` call sites misses it.
        "def f():\n    return 1\n"
        'leak = str.format("{0.__init__.__globals__}", f)  # <-\n'
        'print("ESCAPED", leak)\n',
        r"(?i)attribute|__init__|__globals__",
    ),
    Escape(
        "bound-format-in-variable",
        # The bound method is stored first and called later under another name.
        'fmt = "{0.__class__}".format\nleak = fmt(1)  # <-\nprint("ESCAPED", leak)\n',
        r"(?i)attribute|__class__",
    ),
    Escape(
        "format-through-map",
        # map() calls the bound format method from C, far from any Dana call site.
        'leak = list(map("{0.__class__}".format, [1]))  # <-\nprint("ESCAPED", leak)\n',
        r"(?i)attribute|__class__",
    ),
    Escape(
        "format-through-functools-partial",
        # functools.partial hides the format call behind a partial object.
        "import functools\n"
        'show = functools.partial(str.format, "{0.__class__}")\n'
        "leak = show(1)  # <-\n"
        'print("ESCAPED", leak)\n',
        r"(?i)attribute|__class__",
    ),
    Escape(
        "format-index-then-attribute",
        # An index lookup first, then the attribute walk.
        'leak = "{0[0].__class__}".format([1])  # <-\nprint("ESCAPED", leak)\n',
        r"(?i)attribute|__class__",
    ),
    Escape(
        "fstring-dunder",
        # An f-string's expressions must go through the same compile-time check as code.
        'leak = f"{(1).__class__}"  # <-\nprint("ESCAPED", leak)\n',
        r"__class__",
    ),
    Escape(
        "fstring-nested-spec-dunder",
        # ...including the expressions nested inside a format spec.
        'leak = f"{1:{[].__class__}}"  # <-\nprint("ESCAPED", leak)\n',
        r"__class__",
    ),
    # ---- generator, frame and coroutine tricks -------------------------------------------
    Escape(
        "generator-frame-globals",
        # A generator's frame holds the globals and, through f_back, the caller frames.
        "g = (x for x in [1])\nfr = g.gi_frame.f_globals  # <-\nprint('ESCAPED', fr)\n",
        r"gi_frame|f_globals",
    ),
    Escape(
        "generator-frame-back-builtins",
        # f_back walks up to the interpreter's frames; f_builtins is the real builtins dict.
        "b = (x for x in [1]).gi_frame.f_back.f_builtins  # <-\nprint('ESCAPED', b)\n",
        r"gi_frame|f_back|f_builtins",
    ),
    Escape(
        "generator-code",
        # gi_code exposes the code object (co_consts, co_names, replace()).
        "c = (x for x in [1]).gi_code.co_consts  # <-\nprint('ESCAPED', c)\n",
        r"gi_code|co_consts",
    ),
    Escape(
        "coroutine-frame-name",
        # cr_frame is the coroutine spelling of gi_frame: refused by name whatever the object.
        "g = (x for x in [1])\nfr = g.cr_frame  # <-\nprint('ESCAPED', fr)\n",
        r"cr_frame",
    ),
    Escape(
        "lambda-default-generator-frame",
        # A default argument evaluated at definition smuggles a generator into the lambda.
        "f = lambda g=(i for i in [1]) :: g.gi_frame.f_back  # <-\nprint('ESCAPED', f())\n",
        r"gi_frame|f_back",
    ),
    # ---- builtins recovery via exceptions and tracebacks ---------------------------------
    Escape(
        "traceback-frame",
        # A caught exception's traceback leads to the frame and its globals/builtins.
        "try:\n    1 / 0\nexcept Exception as e:\n    g = e.__traceback__.tb_frame.f_globals  # <-\n"
        "    print('ESCAPED', g)\n",
        r"__traceback__|tb_frame",
    ),
    Escape(
        "exception-context-chain",
        # __context__ walks to the previous exception and from there to its traceback.
        "try:\n    try:\n        1 / 0\n    except Exception:\n        raise ValueError('x')\n"
        "except ValueError as e:\n    c = e.__context__  # <-\n    print('ESCAPED', c)\n",
        r"__context__",
    ),
    Escape(
        "with-traceback-then-traceback",
        # with_traceback() itself is harmless; reading the traceback back is not.
        "try:\n    1 / 0\nexcept Exception as e:\n    t = e.with_traceback(null).__traceback__  # <-\n"
        "    print('ESCAPED', t)\n",
        r"__traceback__",
    ),
    Escape(
        "builtin-function-self",
        # A builtin function's __self__ is the builtins module.
        "m = print.__self__  # <-\nprint('ESCAPED', m)\n",
        r"__self__",
    ),
    Escape(
        "dana-function-globals",
        # A Dana function compiles to a Python function: its globals hold the runtime's names.
        "def f():\n    return 1\ng = f.__globals__  # <-\nprint('ESCAPED', g)\n",
        r"__globals__",
    ),
    Escape(
        "dana-function-code",
        # Its code object could be rebuilt with replace() and run via a function constructor.
        "def f():\n    return 1\nc = f.__code__  # <-\nprint('ESCAPED', c)\n",
        r"__code__",
    ),
    # ---- import tricks -------------------------------------------------------------------
    Escape("import-os", "import os  # <-\nos.system('touch SENTINEL')\nprint('ESCAPED')\n", r"\bos\b"),
    Escape("import-sys", "import sys  # <-\nprint('ESCAPED', sys.modules)\n", r"\bsys\b"),
    Escape(
        "from-os-import-system",
        "from os import system  # <-\nsystem('touch SENTINEL')\nprint('ESCAPED')\n",
        r"\bos\b",
    ),
    Escape("import-os-path-dotted", "import os.path  # <-\nprint('ESCAPED')\n", r"\bos\b"),
    Escape("import-importlib", "import importlib  # <-\nprint('ESCAPED')\n", r"importlib"),
    Escape("import-builtins", "import builtins  # <-\nprint('ESCAPED', builtins.open)\n", r"builtins"),
    Escape("import-subprocess-aliased", "import subprocess as sp  # <-\nprint('ESCAPED')\n", r"subprocess"),
    Escape(
        "dunder-import-call",
        # __import__ is the function behind every import statement.
        "os = __import__('os')  # <-\nos.system('touch SENTINEL')\nprint('ESCAPED')\n",
        r"__import__",
    ),
    Escape(
        "json-leaks-codecs",
        # json imports codecs; codecs.open would write files.
        "import json\nf = json.codecs.open('SENTINEL', 'w')  # <-\nprint('ESCAPED', f)\n",
        r"codecs",
    ),
    Escape(
        "from-json-import-codecs",
        # The same leak through a from-import.
        "from json import codecs  # <-\ncodecs.open('SENTINEL', 'w')\nprint('ESCAPED')\n",
        r"codecs",
    ),
    Escape(
        "json-decoder-submodule",
        # json.decoder is a module object; its attributes lead to other modules.
        "import json\nm = json.decoder.scanner  # <-\nprint('ESCAPED', m)\n",
        r"decoder|scanner",
    ),
    Escape(
        "datetime-leaks-sys",
        # datetime imports sys: sys.modules['os'] is one subscript away.
        "import datetime\nos = datetime.sys.modules['os']  # <-\n"
        "os.system('touch SENTINEL')\nprint('ESCAPED')\n",
        r"\bsys\b",
    ),
    Escape(
        "statistics-leaks-sys",
        "import statistics\nm = statistics.sys.modules  # <-\nprint('ESCAPED', m)\n",
        r"\bsys\b",
    ),
    Escape(
        "re-leaks-enum",
        # re imports enum, and enum imports sys.
        "import re\ns = re.enum.sys  # <-\nprint('ESCAPED', s)\n",
        r"enum|\bsys\b",
    ),
    Escape(
        "re-leaks-copyreg",
        "import re\nc = re.copyreg  # <-\nprint('ESCAPED', c)\n",
        r"copyreg",
    ),
    Escape(
        "allowed-module-loader",
        # A module's __loader__/__spec__ can load arbitrary modules.
        "import math\nl = math.__loader__  # <-\nprint('ESCAPED', l)\n",
        r"__loader__",
    ),
    # ---- dangerous builtins --------------------------------------------------------------
    Escape("builtin-open", "f = open('SENTINEL', 'w')  # <-\nprint('ESCAPED', f)\n", r"\bopen\b"),
    Escape("builtin-eval", "v = eval('1 + 1')  # <-\nprint('ESCAPED', v)\n", r"\beval\b"),
    Escape("builtin-exec", "exec('x = 1')  # <-\nprint('ESCAPED')\n", r"\bexec\b"),
    Escape("builtin-compile", "c = compile('1', 'f', 'eval')  # <-\nprint('ESCAPED', c)\n", r"\bcompile\b"),
    Escape("builtin-getattr", "c = getattr(1, '__class__')  # <-\nprint('ESCAPED', c)\n", r"\bgetattr\b"),
    Escape(
        "builtin-setattr",
        "struct P:\n    x: int\np = P(x=1)\nsetattr(p, 'x', 2)  # <-\nprint('ESCAPED')\n",
        r"\bsetattr\b",
    ),
    Escape("builtin-globals", "g = globals()  # <-\nprint('ESCAPED', g)\n", r"\bglobals\b"),
    Escape("builtin-vars", "v = vars()  # <-\nprint('ESCAPED', v)\n", r"\bvars\b"),
    Escape("builtin-locals", "v = locals()  # <-\nprint('ESCAPED', v)\n", r"\blocals\b"),
    Escape("builtin-input", "v = input('? ')  # <-\nprint('ESCAPED', v)\n", r"\binput\b"),
    Escape("builtin-breakpoint", "breakpoint()  # <-\nprint('ESCAPED')\n", r"\bbreakpoint\b"),
    Escape("builtin-help", "help(len)  # <-\nprint('ESCAPED')\n", r"\bhelp\b"),
    Escape("builtin-exit", "exit(0)  # <-\nprint('ESCAPED')\n", r"\bexit\b"),
    Escape(
        "getattr-through-map",
        # Passing getattr as a value is as bad as calling it.
        "leak = list(map(getattr, [1], ['__class__']))  # <-\nprint('ESCAPED', leak)\n",
        r"\bgetattr\b",
    ),
    Escape(
        "getattr-through-functools-reduce",
        # reduce(getattr, names, obj) walks a whole attribute chain from strings.
        "import functools\nleak = functools.reduce(getattr, ['__class__', '__base__'], 1)  # <-\n"
        "print('ESCAPED', leak)\n",
        r"\bgetattr\b",
    ),
    # ---- struct (pydantic) class methods and host classes ---------------------------------
    Escape(
        "type-of-type-three-args",
        # type(type(1)) is the real `type`; called with three arguments it builds classes.
        'X = type(type(1))("X", (), {})  # <-\nprint("ESCAPED", X)\n',
        r"type",
    ),
    Escape(
        "struct-parse-raw-pickle",
        # pydantic's deprecated BaseModel.parse_raw(proto="pickle") unpickles attacker bytes:
        # a protocol-0 pickle that calls os.system.
        "struct P:\n    x: int\n"
        'payload = "cos\\nsystem\\n(S\'touch SENTINEL\'\\ntR.".encode("latin-1")\n'
        'q = P.parse_raw(payload, proto="pickle", allow_pickle=true)  # <-\n'
        'print("ESCAPED", q)\n',
        r"parse_raw|pickle",
    ),
    Escape(
        "struct-parse-file",
        # pydantic's deprecated BaseModel.parse_file reads any file the host can read.
        "struct S:\n    x: str\ns = S.parse_file('SECRET')  # <-\nprint('ESCAPED', s)\n",
        r"parse_file",
    ),
    Escape(
        "host-class-attribute-write",
        # Assigning to a class of an allow-listed module changes it for the whole host process.
        'import json\njson.JSONEncoder.default = lambda self, o :: "ESCAPED"  # <-\nprint(json.dumps({1}))\n',
        r"(?i)JSONEncoder|default|read-only|assign",
    ),
    Escape(
        "host-class-method-write",
        # The same on a pure-Python class whose methods the host's own code calls.
        "import collections\n"
        'collections.Counter.most_common = lambda self :: "ESCAPED"  # <-\n'
        'print(collections.Counter("a").most_common())\n',
        r"(?i)Counter|most_common|read-only|assign",
    ),
    Escape(
        "module-attribute-write",
        # Rebinding a module function would change it for the host too.
        'import json\njson.dumps = lambda x :: "ESCAPED"  # <-\nprint(json.dumps(1))\n',
        r"(?i)json|dumps|read-only",
    ),
    # ---- underscore names and reserved state ---------------------------------------------
    Escape("dunder-builtins-name", "b = __builtins__  # <-\nprint('ESCAPED', b)\n", r"__builtins__"),
    Escape("dunder-build-class", "b = __build_class__  # <-\nprint('ESCAPED', b)\n", r"__build_class__"),
    Escape("dunder-name-write", "__name__ = 'x'  # <-\nprint('ESCAPED')\n", r"__name__"),
    Escape("underscore-receiver", "struct S:\n    x: int\ndef (s: S) _f():  # <-\n    return 1\n", r"'_f'"),
    Escape(
        "python-module-private-import",
        "from math import _members  # <-\nprint('ESCAPED', _members)\n",
        r"_members",
    ),
    Escape("underscore-struct-field", "struct S:\n    _hidden: int  # <-\nprint('ESCAPED')\n", r"_hidden"),
    Escape("private-dunder-write", "private:__secret = 1  # <-\nprint('ESCAPED')\n", r"__secret"),
    Escape(
        "system-desired-type-write",
        # The runtime's reserved system: keys are read-only to Dana code.
        "system:__dana_desired_type = 1  # <-\nprint('ESCAPED')\n",
        r"__dana_desired_type",
    ),
    Escape(
        "readonly-name-attribute-write",
        # __name__ is on the read-only allow-list: writing it is refused.
        "def f():\n    return 1\nf.__name__ = 'g'  # <-\nprint('ESCAPED')\n",
        r"__name__",
    ),
    # ---- allow-listed modules that could rewrite host classes --------------------------------
    Escape(
        "functools-update-wrapper-patches-a-host-class",
        # update_wrapper(assigned=...) is setattr on its first argument: a host class here.
        "import functools\nimport collections\n"
        "functools.update_wrapper(collections.Counter, len, assigned=['most_common'])  # <-\n"
        "print('ESCAPED')\n",
        r"update_wrapper",
    ),
    Escape(
        "functools-wraps",
        "import functools\ndeco = functools.wraps(len)  # <-\nprint('ESCAPED', deco)\n",
        r"wraps",
    ),
    # ---- class machinery and object internals (issue 9, written fresh) -----------------------
    Escape("object-builtin", "o = object  # <-\nprint('ESCAPED', o)\n", r"\bobject\b"),
    Escape("super-builtin", "k = super()  # <-\nprint('ESCAPED', k)\n", r"\bsuper\b"),
    Escape("property-builtin", "p = property(len)  # <-\nprint('ESCAPED', p)\n", r"\bproperty\b"),
    Escape("classmethod-builtin", "c = classmethod(len)  # <-\nprint('ESCAPED', c)\n", r"\bclassmethod\b"),
    Escape("staticmethod-builtin", "s = staticmethod(len)  # <-\nprint('ESCAPED', s)\n", r"\bstaticmethod\b"),
    Escape(
        "qualname-and-module",
        # __qualname__ and __module__ name host code; only __name__ and __doc__ are readable.
        "q = len.__qualname__ + len.__module__  # <-\nprint('ESCAPED', q)\n",
        r"__qualname__",
    ),
    Escape(
        "iterator-reduce",
        # __reduce__ hands back a callable and its arguments: a pickle-style constructor.
        "import itertools\nt = itertools.tee([1])[0].__reduce__()  # <-\nprint('ESCAPED', t)\n",
        r"__reduce__",
    ),
    Escape(
        "iterator-setstate",
        "r = reversed([1]).__setstate__  # <-\nprint('ESCAPED', r)\n",
        r"__setstate__",
    ),
    Escape(
        "classmethod-self",
        # A bound classmethod's __self__ is the class: dict here, the way to its machinery.
        "d = {}.fromkeys.__self__  # <-\nprint('ESCAPED', d)\n",
        r"__self__",
    ),
    Escape(
        "lru-cache-wrapped",
        # functools' cache wrappers keep the function they wrap.
        "import functools\nc = functools.cache(len)\nw = c.__wrapped__  # <-\nprint('ESCAPED', w)\n",
        r"__wrapped__",
    ),
    Escape(
        "regex-copy",
        'import re\nc = re.compile("a").__copy__  # <-\nprint("ESCAPED", c)\n',
        r"__copy__",
    ),
    Escape(
        "field-spec-constructor-class",
        # A struct field's spec is a frozen dataclass; its class leads to dataclass machinery.
        'struct P:\n    x: int\nk = P.model_fields["x"].__class__  # <-\nprint("ESCAPED", k)\n',
        r"__class__",
    ),
]


def _source(escape: Escape, sentinel: Path, secret: Path) -> tuple[str, int | None]:
    source = escape.source.replace("SENTINEL", str(sentinel)).replace("SECRET", str(secret))
    marked = [i for i, line in enumerate(source.splitlines(), start=1) if line.rstrip().endswith("# <-")]
    return source, marked[0] if marked else None


# Host objects an escape may try to rebind; restored after each attempt so a successful escape
# cannot break the tests that follow it.
HOST_ATTRIBUTES = [
    (json.JSONEncoder, "default"),
    (collections.Counter, "most_common"),
    (json, "dumps"),
    (math, "pi"),
]


def _host_attributes() -> list[Any]:
    return [vars(owner).get(name) for owner, name in HOST_ATTRIBUTES]


def _restore_host_attributes(saved: list[Any]) -> list[str]:
    changed = []
    for (owner, name), value in zip(HOST_ATTRIBUTES, saved, strict=True):
        if vars(owner).get(name) is not value:
            changed.append(f"{getattr(owner, '__name__', owner)}.{name}")
            setattr(owner, name, value)
    return changed


def _leaked(value: Any) -> str | None:
    """Names what an escaped value is, or None when it is an ordinary Dana value."""
    if isinstance(value, types.ModuleType) and value.__name__.partition(".")[0] not in ALLOWED_MODULES:
        return f"module {value.__name__}"
    if isinstance(value, (types.FrameType, types.CodeType, types.TracebackType)):
        return type(value).__name__
    if id(value) in DANGEROUS_BUILTINS:
        return f"builtin {value!r}"
    if value is vars(builtins):
        return "the builtins dict"
    return None


def test_suite_is_big_enough() -> None:
    assert len(ESCAPES) >= 30
    assert len({e.id for e in ESCAPES}) == len(ESCAPES)


@pytest.mark.parametrize("escape", ESCAPES, ids=[e.id for e in ESCAPES])
def test_escape_is_refused(escape: Escape, tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    secret = tmp_path / "secret.json"
    secret.write_text('{"x": "ESCAPED secret"}')
    source, line = _source(escape, sentinel, secret)
    ctx = SandboxContext()
    host = _host_attributes()
    try:
        outcome = run(source, ctx, filename="escape.na", timeout=10, print_sink=lambda s: None)
    finally:
        changed = _restore_host_attributes(host)
    err = outcome.error
    info = f"\n{source}--- output ---\n{outcome.output}--- error ---\n{err!r}"
    assert isinstance(err, (SandboxError, DanaSyntaxError)), info
    assert re.search(escape.refused, err.message), f"message does not name {escape.refused!r}" + info
    if line is not None:
        assert err.location is not None and err.location.line == line, info
    assert "ESCAPED" not in outcome.output, info
    assert not sentinel.exists(), "the payload ran" + info
    assert not changed, f"host objects were modified: {changed}" + info
    for scope in ("local", "private", "public", "system"):
        for name, value in ctx.scope(scope).items():
            assert _leaked(value) is None, f"{scope}:{name} holds {_leaked(value)}" + info


# ---- a program's `_` names are its own ------------------------------------------------------------

RUNTIME_NAMES = ["_step", "_G", "_L", "_P", "_S", "_import", "_store_miss", "_sync", "_lk", "_named"]


@pytest.mark.parametrize("name", RUNTIME_NAMES)
def test_a_runtime_helpers_name_is_only_the_programs_own(name: str) -> None:
    # The compiler renames the program's `_` names apart from the runtime's helpers (names.py):
    # reading one the program never bound is a NameError, binding one binds the program's own.
    ctx = SandboxContext()
    outcome = run(f"v = {name}\n", ctx, filename="helper.na", timeout=10)
    assert isinstance(outcome.error, DanaNameError), outcome.error
    assert outcome.error.message == f"name {name!r} is not defined"
    assert outcome.error.location is not None and outcome.error.location.line == 1
    outcome = run(f"{name} = 41\n{name} += 1\nprint({name})\n", ctx, filename="helper.na", timeout=10)
    assert outcome.error is None and outcome.output == "42\n"
    assert ctx.local[name] == 42


def test_a_dana_modules_python_attributes_cannot_be_imported(tmp_path: Path) -> None:
    (tmp_path / "mod.na").write_text("_own = 1\n")
    for name in ("__class__", "__dict__", "__init__", "member"):
        prog = tmp_path / "main.na"
        prog.write_text(f"from mod import {name}\nprint('ESCAPED', {name})\n")
        outcome = run(prog, timeout=10)
        assert outcome.error is not None and "ESCAPED" not in outcome.output, outcome.output
        assert "cannot import name" in outcome.error.message


# ---- harmless neighbours stay allowed ---------------------------------------------------------

ALLOWED = [
    pytest.param(
        "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    print(e.args, str(e))\n",
        "('division by zero',) division by zero\n",
        id="exception-args",
    ),
    pytest.param("print(type(1).__name__, type('s').__name__)\n", "int str\n", id="type-name"),
    pytest.param("def f():\n    return 1\nprint(f.__name__)\n", "f\n", id="function-name"),
    pytest.param(
        'print("{0}-{1}".format("a", 2), "{x}".format_map({"x": 3}), "{0!r}".format("q"))\n',
        "a-2 3 'q'\n",
        id="format-without-attributes",
    ),
    pytest.param(
        "import json\nimport re\nprint(json.dumps({'a': 1}), re.sub('a', 'b', 'aa'))\n",
        '{"a": 1} bb\n',
        id="allowed-modules",
    ),
    pytest.param(
        "struct P:\n    x: int\nprint(sorted(P.model_fields.keys()))\n", "['x']\n", id="struct-model-fields"
    ),
    pytest.param(
        "def f():\n    return system:__dana_desired_type == bool\nt: bool = f()\nprint(t)\n",
        "True\n",
        id="read-desired-type",
    ),
    pytest.param("system:my_flag = 1\nprint(system:my_flag)\n", "1\n", id="system-own-key-write"),
]


@pytest.mark.parametrize(("source", "expected"), ALLOWED)
def test_harmless_neighbours_are_allowed(source: str, expected: str) -> None:
    outcome = run(source, SandboxContext(), timeout=10, print_sink=lambda s: None)
    assert outcome.error is None, f"\n{source}\n{outcome.error}"
    assert outcome.output == expected


def test_reserved_system_key_set_by_host_is_read_only() -> None:
    ctx = SandboxContext(initial_system_state={"run_id": "r-1"})
    ctx.reserved_system_keys.add("run_id")
    outcome = run('print(system:run_id)\nsystem:run_id = "mine"\n', ctx, print_sink=lambda s: None)
    assert outcome.output == "r-1\n"
    assert isinstance(outcome.error, SandboxError), outcome.error
    assert "run_id" in outcome.error.message
    assert outcome.error.location is not None and outcome.error.location.line == 2
    assert ctx.get("system:run_id") == "r-1"


def test_refusal_can_be_widened_explicitly() -> None:
    # DESIGN §3: the embedding program may allow more Python modules.
    refused = run("import string\nprint(string.digits)\n", SandboxContext(), print_sink=lambda s: None)
    assert isinstance(refused.error, (SandboxError, DanaSyntaxError))
    ctx = SandboxContext(allow_python_modules=["string"])
    allowed = run("import string\nprint(string.digits)\n", ctx, print_sink=lambda s: None)
    assert allowed.error is None, allowed.error
    assert allowed.output == "0123456789\n"
