"""The sandbox attacked by category (issue 9): each attempt is refused cleanly and nothing escapes.

Categories here: 1 strings evaluated as Python types, 2 classes from allowed modules, 3 live
writable host objects, 5 hooks the host calls later, 9 the smaller ones (process-wide state,
SQLite directory pragmas, long messages). Credentials (4) are in test_sandbox_credentials.py,
limits (6) in test_sandbox_limits.py, CommandNode and result() (7, 8) in test_sandbox_nodes.py,
OS confinement (10) in test_sandbox_confine.py, a hostile worker in test_sandbox_worker_protocol.py.

Every attempt runs under the default process isolation unless it says otherwise. A payload that
got evaluated as Python would create SENTINEL; the tests also check that the host's objects are
as they were and that the host still runs programs afterwards.
"""

from __future__ import annotations

import json
import logging
import math
import random
import traceback
from pathlib import Path
from typing import Any

import pytest
from _attack import Attempt, check_refused, host_survives, run_attempt
from pydantic import BaseModel

from danaflow.context import ExecutableTypeEnum, ExecutionContext
from danaflow.context.resources import DatabaseResource, ToolResource
from danaflow.errors import TemplateError
from danaflow.flow import DanaNode, FlowDefinition, FlowRunner, InMemoryRun, PythonNode
from danaflow.lang.api import run
from danaflow.lang.sandbox import SandboxContext
from danaflow.template import TemplateEngine
from danaflow.template.engine import to_text

PAYLOAD = "__import__('os').system('touch SENTINEL') or int"
"""What pydantic would run if it evaluated a string annotation: it creates SENTINEL."""
ANNOTATION_REFUSED = r"the annotation: got the string|the str .* in an annotation: want"
"""A string annotation is refused when the program runs, or already when it compiles."""


def _t(id: str, source: str, kind: str, refused: str, **options: Any) -> Attempt:
    return Attempt(id, source.replace("EVIL", PAYLOAD), kind, refused, options)


# ---- 1. strings evaluated as Python types ---------------------------------------------------

TYPE_STRINGS = [
    _t(
        "cast-string",
        'x = cast("EVIL", 1)  # <-\nprint("ESCAPED", x)\n',
        "TypeError",
        r"cast\(\): got the string",
    ),
    _t("cast-list-of-string", 'x = cast(list["EVIL"], [1])  # <-\n', "TypeError", r"got the string"),
    _t("cast-dict-value-string", 'x = cast(dict[str, "EVIL"], {})  # <-\n', "TypeError", r"got the string"),
    _t(
        "cast-union-member-string",
        'x = cast(list[int] | set["EVIL"], [])  # <-\n',
        "TypeError",
        r"got the string",
    ),
    _t(
        "cast-deeply-nested-string",
        'x = cast(list[dict[str, tuple[int, frozenset["EVIL"]]]], [])  # <-\n',
        "TypeError",
        r"got the string",
    ),
    _t(
        "cast-generic-alias-built-by-hand",
        # types.GenericAlias is reachable as type(list[int]); built directly it skips the parser.
        'G = type(list[int])\nT = G(list, ("EVIL",))\nx = cast(T, [1])  # <-\n',
        "TypeError",
        r"got the string",
    ),
    _t(
        "struct-field-string",
        'struct P:  # <-\n    x: "EVIL"\nprint("ESCAPED")\n',
        "TypeError",
        r"struct P: field x: got the string",
    ),
    _t(
        "struct-field-generic-string",
        'struct P:  # <-\n    a: int\n    tags: list["EVIL"] | None\n',
        "TypeError",
        r"struct P: field tags: got the string",
    ),
    _t(
        "interface-field-string",
        'interface I:  # <-\n    x: dict[str, "EVIL"]\n',
        "TypeError",
        r"interface I: field x: got the string",
    ),
    _t(
        "model-fields-annotation-rewritten",
        'struct P:\n    x: int\nP.model_fields["x"].annotation = "EVIL"  # <-\nq = P(x=1)\n',
        "SandboxError",
        r"cannot set 'annotation'",
    ),
    _t(
        "model-fields-entry-replaced",
        'struct P:\n    x: int\nP.model_fields["x"] = "EVIL"  # <-\n',
        "TypeError",
        r"does not support item assignment",
    ),
    _t(
        "model-fields-replaced",
        'struct P:\n    x: int\nP.model_fields = {"x": "EVIL"}  # <-\n',
        "SandboxError",
        r"classes are read-only",
    ),
    _t(
        "field-spec-forged",
        # FieldSpec is reachable as a type; a forged one carries a string annotation.
        'struct P:\n    x: int\nF = type(P.model_fields["x"])\nf = F("x", "EVIL")\n'
        "v = cast(f.annotation, 1)  # <-\n",
        "TypeError",
        r"got the string",
    ),
    _t(
        "pipeline-stage-cast",
        'def to_t(x) = cast("EVIL", $$)  # <-\nprint("ESCAPED", to_t(1))\n',
        "TypeError",
        r"cast\(\): got the string",
    ),
    _t(
        "pipeline-lambda-stage",
        'def to_t(x) = str | (lambda v :: cast(list["EVIL"], v))  # <-\nto_t(1)\n',
        "TypeError",
        r"got the string",
    ),
    _t(
        "pipeline-list-stage",
        'def to_t(x) = str | [str, cast(tuple[int, "EVIL"], $$)]  # <-\nto_t(1)\n',
        "TypeError",
        r"got the string",
    ),
    _t(
        "reason-desired-type-keyword",
        'n = reason("q", __dana_desired_type="EVIL")  # <-\nprint("ESCAPED", n)\n',
        "TypeError",
        r"reason\(\): the desired type: got the string",
    ),
    _t(
        "reason-annotation-string",
        'n: "EVIL" = reason("q")  # <-\nprint("ESCAPED", n)\n',
        "TypeError|DanaSyntaxError",
        ANNOTATION_REFUSED,
    ),
    _t(
        "reason-annotation-generic-string",
        'n: list["EVIL"] = reason("q")  # <-\n',
        "TypeError|DanaSyntaxError",
        ANNOTATION_REFUSED,
    ),
    _t(
        "reason-starstar-string-escapes",
        'n = reason("q", **{"\\x5f\\x5fdana\\u005fdesired_type": "EVIL"})  # <-\n',
        "TypeError",
        r"the desired type: got the string",
    ),
    _t(
        "reason-starstar-built-key",
        'k = "_" + "_dana" + "_desired" + "_type"\nn = reason("q", **{k: "EVIL"})  # <-\n',
        "TypeError",
        r"the desired type: got the string",
    ),
    _t(
        "reason-starstar-dict-call",
        'd = dict(__dana_desired_type="EVIL")\nn = reason("q", **d)  # <-\n',
        "TypeError",
        r"the desired type: got the string",
    ),
    _t(
        "reason-through-typed-caller",
        # The annotation of the caller's assignment becomes the desired type inside f().
        'def f():\n    return reason("q")\ny: "EVIL" = f()  # <-\n',
        "TypeError|DanaSyntaxError",
        ANNOTATION_REFUSED,
    ),
    _t(
        "use-llm-reason-desired-type",
        'r = use("llm").reason("q", __dana_desired_type="EVIL")  # <-\n',
        "TypeError",
        r"the desired type: got the string",
    ),
    _t(
        "use-llm-reason-starstar",
        'r = use("llm").reason("q", **{"__dana_desired_type": list["EVIL"]})  # <-\n',
        "TypeError",
        r"the desired type: got (the string|a Opaque)",
    ),
]


@pytest.fixture
def reasoning_ctx(fake_llm):
    """A context whose reason() and use("llm") reach the fake server, which must stay unasked."""

    def make(**kw: Any) -> SandboxContext:
        llm = fake_llm.resource(structured_output=False)
        return SandboxContext(reasoner=llm, resources={"llm": llm}, **kw)

    return make


@pytest.mark.parametrize("attempt", TYPE_STRINGS, ids=[a.id for a in TYPE_STRINGS])
def test_a_string_is_never_evaluated_as_a_type(
    attempt: Attempt, tmp_path: Path, reasoning_ctx, fake_llm
) -> None:
    outcome, source, sentinel = run_attempt(attempt, tmp_path, reasoning_ctx())
    check_refused(outcome, attempt, source, sentinel)
    assert fake_llm.requests == [], "a refused reason() reached the model"


def test_a_type_string_from_host_state_is_refused(tmp_path: Path) -> None:
    attempt = _t(
        "cast-host-string", "x = cast(private:T, 1)  # <-\n", "TypeError", r"cast\(\): got the string"
    )
    sentinel = tmp_path / "pwned"
    ctx = SandboxContext(initial_private_state={"T": PAYLOAD.replace("SENTINEL", str(sentinel))})
    outcome, source, sentinel = run_attempt(attempt, tmp_path, ctx)
    check_refused(outcome, attempt, source, sentinel)


TEMPLATE_TYPE_STRINGS = [
    ('$expr{cast("EVIL", 1)}', r"cast\(\): got the string"),
    ('$expr{cast(list["EVIL"], [1])}', r"got the string"),
    ('n = $expr{cast(int | dict[str, "EVIL"], 2)}', r"got the string"),
    ('$expr{reason("q", __dana_desired_type="EVIL")}', r"the desired type: got the string"),
]


@pytest.mark.parametrize(("template", "refused"), TEMPLATE_TYPE_STRINGS, ids=lambda v: str(v)[:30])
def test_a_template_cannot_evaluate_a_type_string(
    template: str, refused: str, tmp_path: Path, fake_llm
) -> None:
    sentinel = tmp_path / "pwned"
    run_ = InMemoryRun(llm=fake_llm.resource(structured_output=False), allow_python_templates=False)
    ctx = ExecutionContext(ExecutableTypeEnum.flow, "root", run_context=run_)
    text = template.replace("EVIL", PAYLOAD).replace("SENTINEL", str(sentinel))
    with pytest.raises(TemplateError, match=refused) as exc:
        TemplateEngine.render_template(text, {}, ctx, name="prompt")
    assert exc.value.location is not None and exc.value.location.file == "prompt"
    assert not sentinel.exists()
    assert fake_llm.requests == []


# ---- 2. classes and objects reachable from the curated modules ---------------------------------

MODULE_OBJECTS = [
    _t(
        "userstring",
        'import collections\nu = collections.UserString("{0.__init__.__globals__}")  # <-\n'
        "print(u.format(1))\n",
        "SandboxError",
        r"collections\.UserString is not available",
    ),
    _t("userstring-from-import", "from collections import UserString  # <-\n", "SandboxError", r"UserString"),
    _t("userdict", "import collections\nd = collections.UserDict  # <-\n", "SandboxError", r"UserDict"),
    _t(
        "collections-abc-module",
        "import collections\nm = collections.abc  # <-\n",
        "SandboxError",
        r"\babc\b",
    ),
    _t(
        "partial-func-globals",
        "import functools\np = functools.partial(print, 1)\ng = p.func.__globals__  # <-\n",
        "SandboxError",
        r"__globals__",
    ),
    _t(
        "partial-func-self",
        "import functools\nm = functools.partial(len).func.__self__  # <-\n",
        "SandboxError",
        r"__self__",
    ),
    _t(
        "partial-of-unbound-format",
        'import functools\nshow = functools.partial(str.format_map, "{x.__class__.__mro__}")\n'
        'leak = show({"x": 1})  # <-\n',
        "SandboxError",
        r"format field 'x\.__class__\.__mro__'",
    ),
    _t(
        "functools-total-ordering",
        "import functools\nt = functools.total_ordering  # <-\n",
        "SandboxError",
        r"total_ordering",
    ),
    _t(
        "namedtuple-make",
        'import collections\nP = collections.namedtuple("P", "x")\nm = P._make  # <-\n',
        "SandboxError",
        r"_make",
    ),
    _t(
        "namedtuple-class-patched",
        'import collections\nP = collections.namedtuple("P", "x")\nP.count = len  # <-\n',
        "SandboxError",
        r"classes are read-only",
    ),
    _t(
        "namedtuple-source-injection",
        # namedtuple builds its __new__ with eval: a field name must never carry code into it.
        'import collections\nP = collections.namedtuple("P", "x) or EVIL or (y")  # <-\nP(1)\n',
        "ValueError",
        r"valid identifiers",
    ),
    _t(
        "namedtuple-dunder-field",
        'import collections\nP = collections.namedtuple("P", ["x", "__class__"])  # <-\n',
        "ValueError",
        r"underscore",
    ),
    _t(
        "re-pattern-class",
        "import re\nP = re.Pattern  # <-\n",
        "SandboxError",
        r"re\.Pattern is not available",
    ),
    _t("re-scanner-class", "import re\ns = re.Scanner([])  # <-\n", "SandboxError", r"re\.Scanner"),
    _t("re-functools-module", "import re\nf = re.functools  # <-\n", "SandboxError", r"functools"),
    _t(
        "re-match-reduce",
        'import re\nm = re.match("a", "a")\nr = m.__reduce_ex__(2)  # <-\n',
        "SandboxError",
        r"__reduce_ex__",
    ),
    _t("json-decoder-class", "import json\nd = json.JSONDecoder  # <-\n", "SandboxError", r"JSONDecoder"),
    _t("json-scanner-module", "import json\ns = json.scanner  # <-\n", "SandboxError", r"scanner"),
    _t(
        "json-object-hook-eval",
        'import json\nv = json.loads("{}", object_hook=eval)  # <-\n',
        "SandboxError",
        r"eval\(\) is not available",
    ),
    _t(
        "datetime-capi",
        "import datetime\nc = datetime.datetime_CAPI  # <-\n",
        "SandboxError",
        r"datetime_CAPI",
    ),
    _t(
        "datetime-tzinfo-class-walk",
        "import datetime\nz = datetime.timezone.utc\nk = z.__class__.__base__  # <-\n",
        "SandboxError",
        r"__class__",
    ),
    _t(
        "statistics-fraction",
        "import statistics\nF = statistics.Fraction  # <-\n",
        "SandboxError",
        r"Fraction",
    ),
    _t(
        "statistics-random-module",
        "import statistics\nr = statistics.random  # <-\n",
        "SandboxError",
        r"random",
    ),
    _t(
        "statistics-normaldist-private",
        "import statistics\nn = statistics.NormalDist(0, 1)\nm = n._mu  # <-\n",
        "SandboxError",
        r"_mu",
    ),
    _t(
        "statistics-error-subclasses",
        "import statistics\ns = statistics.StatisticsError.__subclasses__()  # <-\n",
        "SandboxError",
        r"__subclasses__",
    ),
    _t("format-attribute", 'leak = "{0.real}".format(1)  # <-\n', "SandboxError", r"format field '0\.real'"),
    _t(
        "format-nested-spec-attribute",
        'leak = "{0:{1.__class__}}".format(1, 2)  # <-\n',
        "SandboxError",
        r"format field '1\.__class__'",
    ),
    _t(
        "format-map-unbound",
        'leak = str.format_map("{0.imag}", [1])  # <-\n',
        "SandboxError",
        r"format field '0\.imag'",
    ),
    _t(
        "format-as-sort-key",
        # The bound method is called from C (sorted), far from any Dana call site.
        'leak = sorted(["{0.__class__}"], key="{0.__doc__}".format)  # <-\n',
        "SandboxError",
        r"attribute access in format strings",
    ),
    _t(
        "format-type-of-string",
        'T = type("s")\nleak = T.format("{0.__class__}", 1)  # <-\n',
        "SandboxError",
        r"format field '0\.__class__'",
    ),
]


@pytest.mark.parametrize("attempt", MODULE_OBJECTS, ids=[a.id for a in MODULE_OBJECTS])
def test_curated_modules_reach_no_host_class(attempt: Attempt, tmp_path: Path) -> None:
    outcome, source, sentinel = run_attempt(attempt, tmp_path)
    check_refused(outcome, attempt, source, sentinel)


@pytest.mark.parametrize(
    "source",
    [
        '"{0[0]}-{k}".format([1], k=2)',
        '"%s and %r" % (1, "a")',
        'str.format("{0}", 3)',
        "import functools\nfunctools.partial(max, 1)(2)",
        'import re\nre.compile("a(b)").match("ab").group(1)',
        'import collections\ncollections.namedtuple("P", "x y")(1, 2).y',
    ],
)
def test_the_harmless_neighbours_stay_allowed(source: str) -> None:
    outcome = run(source, SandboxContext(), print_sink=lambda s: None)
    assert outcome.error is None, outcome.error


# ---- 3. live, writable host objects --------------------------------------------------------


class Profile(BaseModel):
    name: str = "ada"
    home: Path = Path("/home/ada")


class HostObjects:
    """Resources and state handed to the program, and a record of how they were before."""

    def __init__(self, tmp_path: Path, llm: Any):
        self.tool = ToolResource("tool", command=["echo", "{x}"])
        self.db = DatabaseResource("db", connection_string=f"sqlite:///{tmp_path / 'host.db'}")
        self.db.execute("create table if not exists t(x)")
        self.llm = llm
        self.profile = Profile()
        self.before = self.state()

    def context(self) -> SandboxContext:
        return SandboxContext(
            resources={"tool": self.tool, "db": self.db, "llm": self.llm},
            initial_private_state={"profile": self.profile, "path": Path("/etc/passwd")},
        )

    def state(self) -> dict[str, Any]:
        return {
            "tool.argv": list(self.tool.argv or []),
            "tool.func": self.tool.func,
            "db.path": self.db.path,
            "db.closed": self.db.closed,
            "db.connection_string": self.db.connection_string,
            "llm.models": dict(self.llm.models),
            "llm.base_url": self.llm.provider.base_url,
            "profile": self.profile.model_dump(),
            "math.pi": math.pi,
        }

    def unchanged(self) -> None:
        assert self.state() == self.before
        assert self.tool.call(x="still echo") == "still echo\n"
        assert self.db.query("select 1 as one") == [{"one": 1}]


HOST_OBJECTS = [
    _t(
        "tool-argv",
        'use("tool").argv = ["touch", "SENTINEL"]  # <-\n',
        "SandboxError",
        r"cannot set 'argv' on a Capability",
    ),
    _t("tool-func", 't = use("tool")\nt.func = print  # <-\n', "SandboxError", r"cannot set 'func'"),
    _t("tool-call", 'use("tool").call = print  # <-\n', "SandboxError", r"cannot set 'call'"),
    _t(
        "tool-read-argv",
        'a = use("tool").argv  # <-\n',
        "AttributeError",
        r"no method 'argv'; it offers: call",
    ),
    _t("db-path", 'use("db").path = "SENTINEL"  # <-\n', "SandboxError", r"cannot set 'path'"),
    _t("db-closed", 'use("db").closed = true  # <-\n', "SandboxError", r"cannot set 'closed'"),
    _t(
        "db-connection-string",
        'd = use("db")\nd.connection_string = "sqlite:///SENTINEL"  # <-\n',
        "SandboxError",
        r"cannot set 'connection_string'",
    ),
    _t("db-private-connection", 'c = use("db")._sqlite  # <-\n', "SandboxError", r"_sqlite"),
    _t("llm-provider", 'p = use("llm").provider  # <-\n', "AttributeError", r"no method 'provider'"),
    _t(
        "llm-provider-base-url",
        'use("llm").provider.base_url = "http://127.0.0.1:1/v1"  # <-\n',
        "AttributeError",
        r"no method 'provider'",
    ),
    _t(
        "llm-models",
        'use("llm").models = {"x": "openai:gpt-4o"}  # <-\n',
        "SandboxError",
        r"cannot set 'models'",
    ),
    _t(
        "capability-class",
        'T = type(use("tool"))\nT.__getattr__ = print  # <-\n',
        "SandboxError",
        r"__getattr__",
    ),
    _t(
        "capability-class-attribute",
        'T = type(use("tool"))\nT.name = "x"  # <-\n',
        "SandboxError",
        r"classes are read-only",
    ),
    _t(
        "path-value-type",
        'P = type(private:path)\ntext = P("SENTINEL").write_text("x")  # <-\n',
        "AttributeError",
        r"'str' object has no attribute 'write_text'",
    ),
    _t(
        "record-attribute",
        'private:profile.name = "eve"  # <-\n',
        "SandboxError",
        r"cannot set 'name' on a Record",
    ),
    _t("record-item", 'r = private:profile\nr["name"] = "eve"  # <-\n', "TypeError", r"read-only"),
    _t("record-update", 'private:profile.update({"name": "eve"})  # <-\n', "TypeError", r"read-only"),
    _t("record-pop", 'private:profile.pop("home")  # <-\n', "TypeError", r"read-only"),
    _t("module-constant", "import math\nmath.pi = 3  # <-\n", "SandboxError", r"cannot set 'pi'"),
    _t(
        "module-function-attribute",
        "import json\njson.dumps.x = 1  # <-\n",
        "SandboxError",
        r"cannot set 'x'",
    ),
    _t(
        "function-attribute",
        "def f():\n    return 1\nf.x = 1  # <-\n",
        "SandboxError",
        r"cannot set 'x' on a function",
    ),
    _t(
        "exception-args",
        'try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    e.args = ("x",)  # <-\n',
        "SandboxError",
        r"cannot set 'args'",
    ),
    _t("builtin-class", "ValueError.x = 1  # <-\n", "SandboxError", r"class ValueError"),
    _t(
        "regex-object",
        'import re\np = re.compile("a")\np.pattern = "b"  # <-\n',
        "SandboxError",
        r"cannot set 'pattern'",
    ),
    _t("list-attribute", "l = [1]\nl.x = 1  # <-\n", "SandboxError", r"cannot set 'x' on a list"),
]


@pytest.mark.parametrize("attempt", HOST_OBJECTS, ids=[a.id for a in HOST_OBJECTS])
def test_host_objects_cannot_be_rewritten(attempt: Attempt, tmp_path: Path, fake_llm) -> None:
    host = HostObjects(tmp_path, fake_llm.resource())
    ctx = host.context()
    outcome, source, sentinel = run_attempt(attempt, tmp_path, ctx)
    check_refused(outcome, attempt, source, sentinel)
    host.unchanged()
    assert ctx.private["profile"] is host.profile


async def test_a_refused_rewrite_does_not_reach_later_trusted_nodes(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    tool = ToolResource("tool", command=["echo", "{x}"])
    program = (
        "try:\n"
        f'    use("tool").argv = ["touch", "{sentinel}"]\n'
        "except Exception as e:\n"
        '    print("refused:", e)\n'
        'public:left = "data only"\n'
    )
    flow = FlowDefinition("f")
    flow.node("evil", DanaNode(program=program))
    flow.node("trusted", PythonNode(lambda ctx: ctx.get_resource("tool").call(x="hello")))
    flow.connect("evil", "trusted")
    result = await FlowRunner(flow, InMemoryRun(resources={"tool": tool})).run()
    assert "cannot set 'argv'" in result.get_result("evil").outcome.text
    assert result.get_result("trusted").outcome.value == "hello\n"
    assert tool.argv == ["echo", "{x}"]
    assert not sentinel.exists()


# ---- 5. hooks the host calls later -------------------------------------------------------------

HOOKS = (
    [
        _t(
            f"receiver-{name}",
            f"struct S:\n    x: int\ndef (s: S) {name}():  # <-\n    return 1\n",
            "TypeError",
            rf"may not be named '{name}'",
        )
        for name in ("model_dump", "model_validate", "model_json_schema", "model_fields")
    ]
    + [
        _t(
            f"receiver-{name}",
            f"struct S:\n    x: int\ndef (s: S) {name}():  # <-\n    return 1\n",
            "SandboxError",
            rf"'{name}'",
        )
        for name in ("__str__", "__repr__", "__eq__", "__del__", "__getattr__")
    ]
    + [
        _t(
            "field-model-dump",
            "struct S:  # <-\n    model_dump: int\n",
            "TypeError",
            r"'model_dump'",
        ),
        _t(
            "field-model-validate",
            "struct S:  # <-\n    model_validate: int\n",
            "TypeError",
            r"'model_validate'",
        ),
        _t(
            "exception-args-200000-deep",
            'e = ValueError("x")\nfor i in range(200000):\n    e = ValueError(e)\nraise e  # <-\n',
            "ValueError",
            r"nested too deeply to show",
        ),
        _t(
            "exception-list-arg-200000-deep",
            "a = []\nfor i in range(200000):\n    a = [a]\nraise KeyError(a)  # <-\n",
            "KeyError",
            r"nested too deeply to show",
        ),
        _t(
            "exception-100-mb-message",
            'raise ValueError("A" * 100000000)  # <-\n',
            "ValueError",
            r"^A{100,}.*more characters not shown",
        ),
        _t(
            "exception-100-mb-key",
            'd = {}\nx = d["k" * 100000000]  # <-\n',
            "KeyError",
            r"more characters not shown",
        ),
        _t(
            "value-200000-deep",
            "a = []\nfor i in range(200000):\n    a = [a]\na\n",
            "WorkerError",
            r"recursion",
        ),
    ]
)


@pytest.mark.parametrize("attempt", HOOKS, ids=[a.id for a in HOOKS])
def test_no_hook_reaches_the_host(attempt: Attempt, tmp_path: Path) -> None:
    outcome, source, sentinel = run_attempt(attempt, tmp_path)
    err = check_refused(outcome, attempt, source, sentinel)
    # The host's own reporting of the error works and stays short.
    text = "".join(traceback.format_exception(err)) + str(err) + repr(err)
    assert len(text) < 20_000
    host_survives()


HOOK_NAMES = ("dict", "json", "keys", "items", "copy", "model_copy", "model_dump_json", "schema", "values")
HOOK_PROGRAM = (
    "struct S:\n    x: int\n    tags: list[str] = []\n"
    + "".join(f'def (s: S) {n}():\n    print("HOOK {n}")\n    return 1\n' for n in HOOK_NAMES)
    + 'S(x=1, tags=["a"])\n'
)


def _use_the_value_as_a_host_would(value: Any) -> list[Any]:
    return [
        str(value),
        repr(value),
        to_text(value),
        to_text([value, {"v": value}]),
        value.model_dump(),
        json.dumps(value.model_dump()),
        type(value).model_json_schema(),
    ]


@pytest.mark.parametrize("isolation", ["process", "inprocess"])
def test_the_host_reads_a_struct_result_without_running_its_methods(isolation: str) -> None:
    printed: list[str] = []
    outcome = run(HOOK_PROGRAM, SandboxContext(), isolation=isolation, print_sink=printed.append)
    assert outcome.error is None, outcome.error
    before = len(printed)
    uses = _use_the_value_as_a_host_would(outcome.value)
    assert uses[4] == {"x": 1, "tags": ["a"]}
    assert json.loads(uses[2]) == {"x": 1, "tags": ["a"]}
    assert len(printed) == before and "HOOK" not in "".join(printed)
    if isolation == "process":
        # What crossed is data: the host's class for S has no Dana methods at all.
        assert not any(callable(getattr(outcome.value, n, None)) for n in ("keys", "items", "json"))


def test_a_deeply_nested_exception_in_process_is_reported_by_the_host() -> None:
    # In-process (trusted) runs keep the original exception as the cause: the host's traceback
    # printing must still work on it.
    source = 'e = ValueError("x")\nfor i in range(200000):\n    e = ValueError(e)\nraise e\n'
    outcome = run(source, SandboxContext(), isolation="inprocess", print_sink=lambda s: None)
    err = outcome.error
    assert err is not None and "nested too deeply" in err.message
    text = "".join(traceback.format_exception(err))
    assert "nested too deeply" in text and len(text) < 50_000
    host_survives()


# ---- 9. process-wide state, SQLite directory pragmas, long messages -------------------------


@pytest.mark.parametrize("isolation", ["process", "inprocess"])
def test_random_seed_changes_only_the_runs_own_generator(isolation: str) -> None:
    state = random.getstate()
    program = "import random\nrandom.seed(1234)\n[random.random(), random.randint(1, 10**9)]\n"
    first = run(program, SandboxContext(), isolation=isolation, print_sink=lambda s: None)
    assert random.getstate() == state
    second = run(program, SandboxContext(), isolation=isolation, print_sink=lambda s: None)
    assert first.error is None and second.error is None, (first.error, second.error)
    assert first.value == second.value  # the seed took effect, on the run's own generator
    assert random.getstate() == state


@pytest.mark.parametrize("isolation", ["process", "inprocess"])
@pytest.mark.parametrize("namespace", [None, "danaflow", "root", ""])
def test_log_level_changes_only_the_runs_thresholds(isolation: str, namespace: str | None) -> None:
    names = ["", "danaflow", "danaflow.dana", "root"]
    before = {n: logging.getLogger(n).level for n in names}
    disabled = logging.root.manager.disable
    arg = f', "{namespace}"' if namespace is not None else ""
    program = (
        f'log_level("critical"{arg})\nlog("hidden")\nlog_level("debug"{arg})\nlog("shown", level="debug")\n'
    )
    outcome = run(program, SandboxContext(), isolation=isolation, print_sink=lambda s: None)
    assert outcome.error is None, outcome.error
    assert {n: logging.getLogger(n).level for n in names} == before
    assert logging.root.manager.disable == disabled


DIRECTORY_SQL = [
    ("PRAGMA temp_store_directory = 'SENTINEL'", r"not authorized"),
    ("pragma   main.TEMP_STORE_DIRECTORY='SENTINEL'", r"not authorized"),
    ("PRAGMA temp_store_directory", r"not authorized"),
    ("PRAGMA data_store_directory = 'SENTINEL'", r"not authorized"),
    ("ATTACH DATABASE 'SENTINEL' AS other", r"not authorized"),
    ("VACUUM INTO 'SENTINEL'", r"authorization denied"),
    ("SELECT load_extension('SENTINEL')", r"not authorized"),
]


@pytest.mark.parametrize(("sql", "refused"), DIRECTORY_SQL, ids=[s for s, _ in DIRECTORY_SQL])
@pytest.mark.parametrize("method", ["execute", "query"])
def test_sqlite_cannot_be_pointed_at_other_files(sql: str, refused: str, method: str, tmp_path: Path) -> None:
    db = DatabaseResource("db", connection_string=f"sqlite:///{tmp_path / 'host.db'}")
    attempt = _t("sql", f'use("db").{method}("{sql}")  # <-\n', "RuntimeError", refused)
    outcome, source, sentinel = run_attempt(attempt, tmp_path, SandboxContext(resources={"db": db}))
    check_refused(outcome, attempt, source, sentinel)
    assert db.query("select 2 as two") == [{"two": 2}]


@pytest.mark.parametrize("isolation", ["process", "inprocess"])
def test_long_messages_are_cut(isolation: str, fake_llm) -> None:
    cases = [
        ('raise ValueError("m" * 50000000)\n', "ValueError"),
        ("raise RuntimeError(str([1] * 3000000))\n", "RuntimeError"),
        ('x = int("7" * 100000)\n', "ValueError"),
        (f'reason("q", model="{"m" * 200_000}")\n', "SandboxError"),
        ('assert false, "a" * 20000000\n', "AssertionError"),
    ]
    ctx = SandboxContext(reasoner=fake_llm.resource())
    for source, kind in cases:
        outcome = run(source, ctx, isolation=isolation, print_sink=lambda s: None)
        err = outcome.error
        assert err is not None and kind in {type(err).__name__, err.error_type}, (source[:40], err)
        assert len(err.message) <= 4200, (source[:40], len(err.message))
        assert err.location is not None and err.location.line == 1
    assert fake_llm.requests == []
