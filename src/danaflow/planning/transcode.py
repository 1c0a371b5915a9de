"""transcode(): an objective in natural language becomes a Dana program the context can run.

The planning LLM writes the program against what the context offers. The prompt gets the
context's resources (the methods ``use(name)`` reaches, with their signatures), its registered
functions and the names in its scopes, plus a short guide to Dana. The program is then checked
like any untrusted program. It is compiled (syntax, sandbox refusals), then dry-run in a confined
worker process against a copy of the scopes. Errors go back to the model, up to ``max_rounds``
attempts, and then TranscodeError carries the last program and its error. The result is only
text: it runs in the sandbox like any other program (``PlanStep(program=...)``, ``danaflow.run``).

The dry run touches nothing real. ``reason()`` and every resource answer placeholder values of
their declared types, after the call's arguments have been checked against the method's
signature or the tool's schema. The context's registered functions do run: they are the host's
own in-process helpers. Errors that only placeholder data can cause (an IndexError on an empty
row list, say) are not held against the program; ``TranscodedProgram.dry_run_error`` notes them.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from danaflow.context.mcp import MCPResource
from danaflow.context.resources import ToolResource
from danaflow.errors import DanaflowError, ResourceError, TranscodeError

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext
    from danaflow.lang.sandbox import SandboxContext

__all__ = ["DRY_RUN_DATA_ERRORS", "TranscodeAttempt", "TranscodedProgram", "atranscode", "transcode"]

DEFAULT_MAX_ROUNDS = 3
DRY_RUN_DATA_ERRORS = frozenset(
    {"IndexError", "KeyError", "ZeroDivisionError", "ValueError", "AssertionError", "StopIteration"}
)
"""Error types a dry run forgives: placeholder data (an empty list, a 1) can cause them in a
program that is right. Any other error (NameError, AttributeError, TypeError, SandboxError, a
tool's refused arguments, an unknown resource, a limit) goes back to the model."""
_FILENAME = "<transcoded>"
_FENCE = re.compile(r"```[ \t]*(?:dana|na|python|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
_PLACEHOLDER_TEXT = "(dry run)"
_MODULE_PREFIX = re.compile(r"\b(?:collections\.abc|typing)\.")

_SYSTEM = """You write programs in Dana, a sandboxed language with Python's syntax. Reply with one \
complete Dana program in a ```dana code block and nothing else.

Dana in brief:
- Statements and expressions are Python's: def (defaults, keyword arguments), if/elif/else, for, \
while, try/except, return, lambda, f-strings, list/dict comprehensions, slices.
- Variables: `x = 1` is local. `private:x` is the agent's state, `public:x` the shared world \
state, `system:x` the execution state; write `private:total = 3` to leave a result there.
- `reason("a question")` asks the LLM; `n: int = reason("...")` gets the answer as that type.
- `struct Point:` with typed fields (`x: int`) defines a record; `Point(x=1)` makes one.
- `use("name")` reaches a resource; call only the methods listed for it below, keyword \
arguments for tools: `use("weather").call(city="Oslo")`.
- `print(...)` writes output; `log("message")` logs. The value of the last expression \
statement is the program's value.
- `import` only: math, json, re, datetime, random, statistics, itertools, functools, \
collections. No open, eval, exec, getattr, globals, classes, or names starting with `_`."""


@dataclass(frozen=True, slots=True)
class TranscodeAttempt:
    """One program the model wrote and what came of it."""

    program: str
    error: str | None = None
    """The compile or dry-run error sent back to the model (None: the program passed)."""
    stage: str | None = None
    """'compile' or 'dry run' when it failed there."""


class TranscodedProgram(str):
    """A transcoded Dana program: the program text itself (a ``str``, so it goes wherever a program
    does: ``PlanStep(program=...)``, ``DanaNode(program=...)``, a .na file), plus how it was made."""

    objective: str
    attempts: tuple[TranscodeAttempt, ...]
    dry_run_error: str | None
    """An error of DRY_RUN_DATA_ERRORS the dry run forgave (placeholder data), or None."""

    def __new__(
        cls,
        program: str,
        objective: str = "",
        attempts: tuple[TranscodeAttempt, ...] = (),
        dry_run_error: str | None = None,
    ) -> TranscodedProgram:
        self = super().__new__(cls, program)
        self.objective = objective
        self.attempts = attempts
        self.dry_run_error = dry_run_error
        return self

    @property
    def rounds(self) -> int:
        """How many programs the model wrote (the last one is this one)."""
        return len(self.attempts)

    def __reduce__(self) -> Any:
        return (TranscodedProgram, (str(self), self.objective, self.attempts, self.dry_run_error))


# ---- the loop -----------------------------------------------------------------------------------
def transcode(
    objective: str,
    context: ExecutionContext | None = None,
    *,
    llm: Any = None,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    dry_run: bool = True,
    timeout: float = 30.0,
    max_steps: int | None = 1_000_000,
) -> TranscodedProgram:
    """Has the planning LLM write a Dana program for ``objective`` against what ``context``
    offers, checked by the compiler and (``dry_run``) a dry run; see the module docstring.

    ``llm`` is an LLMResource or a model spec; None takes the context's planning LLM (walking
    up), then its LLM, then the configured default. ``max_rounds`` is the number of programs
    the model may write; ``timeout``/``max_steps`` bound each dry run. Raises TranscodeError
    with the last program and its error when no attempt passed.
    """
    job = _Job(objective, context, llm, max_rounds, dry_run, timeout, max_steps)
    while (request := job.next_messages()) is not None:
        job.accept(job.llm.complete(request).text)
    return job.result()


async def atranscode(
    objective: str,
    context: ExecutionContext | None = None,
    *,
    llm: Any = None,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    dry_run: bool = True,
    timeout: float = 30.0,
    max_steps: int | None = 1_000_000,
) -> TranscodedProgram:
    """The async twin of ``transcode`` (checks and dry runs run in a worker thread)."""
    job = _Job(objective, context, llm, max_rounds, dry_run, timeout, max_steps)
    while (request := job.next_messages()) is not None:
        text = (await job.llm.acomplete(request)).text
        await asyncio.to_thread(job.accept, text)
    return job.result()


class _Job:
    """One transcoding: the conversation so far, the attempts, and the checks of each program."""

    def __init__(
        self,
        objective: str,
        context: ExecutionContext | None,
        llm: Any,
        max_rounds: int,
        dry_run: bool,
        timeout: float,
        max_steps: int | None,
    ):
        if not isinstance(objective, str) or not objective.strip():
            raise TranscodeError(f"got objective {objective!r}, want a non-empty description of the task")
        if max_rounds < 1:
            raise TranscodeError(f"got max_rounds={max_rounds}, want at least 1")
        if context is None:
            from danaflow.context.context import ExecutionContext

            context = ExecutionContext()
        self.objective = objective
        self.context = context
        self.llm = _planning_llm(context, llm)
        self.max_rounds = max_rounds
        self.dry_run = dry_run
        self.timeout = timeout
        self.max_steps = max_steps
        self.attempts: list[TranscodeAttempt] = []
        self.forgiven: str | None = None
        self.messages: list[dict[str, Any]] = [
            {"role": "system", "content": _SYSTEM},
            {"role": "user", "content": describe_context(context) + f"\n\nObjective: {objective.strip()}"},
        ]

    def next_messages(self) -> list[dict[str, Any]] | None:
        if self.attempts and (self.attempts[-1].error is None or len(self.attempts) >= self.max_rounds):
            return None
        return list(self.messages)

    def accept(self, answer: str) -> None:
        program = extract_program(answer)
        stage, error = self.check(program)
        self.attempts.append(TranscodeAttempt(program, error, stage))
        self.messages.append({"role": "assistant", "content": answer})
        if error is not None:
            where = (
                "does not compile"
                if stage == "compile"
                else ("failed in a dry run (reason() and the resources answered placeholder values)")
            )
            self.messages.append(
                {
                    "role": "user",
                    "content": f"That program {where}:\n{error}\n\n"
                    "Reply with the whole corrected program in one ```dana code block.",
                }
            )

    def check(self, program: str) -> tuple[str | None, str | None]:
        from danaflow.lang.api import check  # deferred: the compiler loads lark

        if not program.strip():
            return "compile", "the reply holds no program: want Dana source in a ```dana code block"
        try:
            check(program, filename=_FILENAME)
        except DanaflowError as err:
            return "compile", str(err)
        if not self.dry_run:
            return None, None
        err = dry_run(program, self.context, timeout=self.timeout, max_steps=self.max_steps)
        if err is None:
            return None, None
        if _forgivable(err):
            self.forgiven = str(err)
            return None, None
        return "dry run", str(err)

    def result(self) -> TranscodedProgram:
        last = self.attempts[-1]
        if last.error is not None:
            shown = last.program if len(last.program) <= 4000 else last.program[:4000] + "\n..."
            raise TranscodeError(
                f"the planning LLM wrote no working program for the objective in {len(self.attempts)} "
                f"round{'s' if len(self.attempts) != 1 else ''}; the last one failed its {last.stage}:\n"
                f"{last.error}\nThe last program:\n{shown}",
                program=last.program,
                error=_Failure(last.error),
                path=getattr(self.context, "path", None),
            )
        return TranscodedProgram(last.program, self.objective, tuple(self.attempts), self.forgiven)


def _forgivable(err: DanaflowError) -> bool:
    kind = getattr(err, "error_type", type(err).__name__)
    if kind == "KeyError" and err.message.startswith("no resource named"):
        return False  # use() of a resource the context does not offer: the program's fault
    return kind in DRY_RUN_DATA_ERRORS


class _Failure(Exception):
    """The text of the last program's error, for TranscodeError.error."""


def _planning_llm(context: ExecutionContext, llm: Any) -> Any:
    if isinstance(llm, str):
        from danaflow.llm import LLMResource  # deferred: the LLM layer costs a fifth of a second

        return LLMResource(model=llm, name="planning")
    if llm is not None:
        return llm
    for ctx in context.ancestry():
        if ctx.planning_llm is not None:
            return ctx.planning_llm
    found = context.llm
    if found is not None and hasattr(found, "complete"):
        return found
    from danaflow.llm import default_llm

    return default_llm()


def extract_program(answer: str) -> str:
    """The program in a model's answer: its first fenced code block, else the whole text."""
    match = _FENCE.search(answer)
    text = match.group(1) if match else answer
    return text.strip("\n").rstrip() + "\n" if text.strip() else ""


# ---- what the context offers ----------------------------------------------------------------------
def describe_context(context: ExecutionContext) -> str:
    """The resources, functions and variables a program in ``context`` can use, as prompt text."""
    lines = ["What the program can use:"]
    resources = sorted(context.resource_names())
    lines.append("Resources (use(name).method(...)):" if resources else "Resources: none.")
    for name in resources:
        lines.extend(_describe_resource(name, context.get_resource(name)))
    registry = context.sandbox.registry
    functions = list(registry)
    lines.append("Functions (call by name):" if functions else "Functions: none beyond the builtins.")
    for fn in functions:
        doc = f" - {fn.description}" if fn.description else _doc_line(fn.func)
        lines.append(f"- {fn.name}{_signature(fn.func, skip_first=fn.pass_context)}{doc}")
    names = _variables(context.sandbox)
    lines.append("Variables already set:" if names else "Variables: none set yet.")
    lines.extend(f"- {n}: {t}" for n, t in names)
    return "\n".join(lines)


def _describe_resource(name: str, resource: Any) -> list[str]:
    head = f'- use("{name}")'
    what = getattr(resource, "description", "") or ""
    if isinstance(resource, MCPResource):
        out = [f"{head}: an MCP server{f' ({what})' if what else ''}; its tools, keyword arguments:"]
        for tool in resource.tools:
            out.append(f"  - .{_dana_name(tool.name)}(**{_schema(tool.parameters)}){_desc(tool.description)}")
        return out
    if isinstance(resource, ToolResource):
        returns = _return_name(resource.func) if resource.func is not None else "str (the command's stdout)"
        return [
            f"{head}.call(**arguments) -> {returns}{_desc(what)}",
            f"  arguments (JSON schema): {_schema(resource.parameters)}",
        ]
    out = [f"{head}: {type(resource).__name__}{_desc(what)}"]
    for method, attr in _methods(resource):
        fn = getattr(resource, attr, None)
        if callable(fn):
            out.append(f"  - .{method}{_signature(fn)}{_doc_line(fn)}")
    return out


def _methods(resource: Any) -> list[tuple[str, str]]:
    allowed = getattr(resource, "dana_methods", ()) or ()
    pairs = allowed.items() if isinstance(allowed, Mapping) else ((m, m) for m in allowed)
    return sorted(pairs)


def _dana_name(tool: str) -> str:
    return re.sub(r"[-.]", "_", tool)


def _desc(text: str) -> str:
    return f" - {text}" if text else ""


def _doc_line(fn: Any) -> str:
    doc = inspect.getdoc(fn) or ""
    return f" - {doc.splitlines()[0]}" if doc else ""


def _schema(schema: Any) -> str:
    text = json.dumps(schema, separators=(",", ":"), default=str)
    return text if len(text) <= 1500 else text[:1500] + "..."


def _signature(fn: Any, *, skip_first: bool = False) -> str:
    try:
        sig = inspect.signature(fn, eval_str=True)
    except (NameError, SyntaxError):  # an annotation that does not resolve: show it as written
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return "(...)"
    if skip_first:
        params = list(sig.parameters.values())[1:]
        sig = sig.replace(parameters=params)
    return _MODULE_PREFIX.sub("", str(sig))


def _return_name(fn: Any) -> str:
    hint = _return_type(fn)
    if hint is None:
        return "a value"
    return getattr(hint, "__name__", None) or _MODULE_PREFIX.sub("", str(hint))


def _return_type(fn: Any) -> Any:
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an annotation that does not resolve: the type is unknown, not an error
        return None
    return hints.get("return")


def _variables(sb: SandboxContext) -> list[tuple[str, str]]:
    found = []
    for scope in ("private", "public", "system"):
        for key, value in sorted(getattr(sb, scope).items()):
            if isinstance(key, str) and key.isidentifier() and not key.startswith("_"):
                found.append((f"{scope}:{key}", type(value).__name__))
    return found


# ---- the dry run --------------------------------------------------------------------------------
def dry_run(
    program: str, context: ExecutionContext, *, timeout: float = 30.0, max_steps: int | None = 1_000_000
) -> DanaflowError | None:
    """Runs ``program`` in a confined worker against a copy of ``context``'s scopes, with
    placeholder answers from ``reason()`` and the resources; returns its error, or None."""
    from danaflow.lang.api import run  # deferred: the compiler loads lark
    from danaflow.lang.sandbox import SandboxContext

    sb = context.sandbox
    local = {k: v for k, v in context.visible_variables().items() if isinstance(k, str)}
    local = {k: v for k, v in local.items() if k.isidentifier() and not k.startswith("_")}
    copy = SandboxContext(
        initial_private_state=dict(sb.private),
        initial_public_state=dict(sb.public),
        initial_local_state={**local, **dict(sb.local)},
        initial_system_state=dict(sb.system),
        registry=sb.registry,
        reasoner=_DryReasoner(),
        resources=_DryResources(sb.resources),
        policy=sb.policy.widen(isolation="process"),
        print_sink=lambda text: None,
    )
    copy.reserved_system_keys = set(sb.reserved_system_keys)
    outcome = run(program, copy, filename=_FILENAME, timeout=timeout, max_steps=max_steps)
    return outcome.error


def placeholder(tp: Any) -> Any:
    """A value of type ``tp`` made from its JSON schema's smallest shape ('(dry run)' for text)."""
    if tp is None or tp is str or tp is Any:
        return _PLACEHOLDER_TEXT
    if tp is type(None):
        return None
    from pydantic import TypeAdapter

    try:
        adapter = TypeAdapter(tp)
        schema = adapter.json_schema()
    except Exception:  # not a type pydantic can describe: plain text stands in
        return _PLACEHOLDER_TEXT
    value = _smallest(schema, schema.get("$defs", {}), 0)
    try:
        return adapter.validate_python(value)
    except Exception:  # the schema's smallest shape breaks a validator: hand over the shape
        return value


def _smallest(schema: Any, defs: dict[str, Any], depth: int) -> Any:
    if not isinstance(schema, dict) or depth > 20:
        return None
    if "$ref" in schema:
        return _smallest(defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {}), defs, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            arms = [a for a in schema[key] if not (isinstance(a, dict) and a.get("type") == "null")]
            return _smallest((arms or schema[key])[0], defs, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "string":
        return _PLACEHOLDER_TEXT
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return float(max(1, schema.get("minimum", 1)))
    if kind == "boolean":
        return True
    if kind == "array":
        item = _smallest(schema.get("items", {}), defs, depth + 1)
        return [item] * int(schema.get("minItems", 0))
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: _smallest(props.get(k, {}), defs, depth + 1) for k in schema.get("required", [])}
    if kind == "null":
        return None
    return _PLACEHOLDER_TEXT


class _DryReasoner:
    """Answers ``reason()`` in a dry run with a placeholder of the desired type; asks no model."""

    def reason(self, prompt: str, desired_type: Any = None, **options: Any) -> Any:
        return placeholder(desired_type)


class _DryResources(Mapping[str, Any]):
    """What ``use(name)`` reaches in a dry run: for each real resource, a stand-in with the same
    Dana methods that checks each call's arguments and answers a placeholder."""

    def __init__(self, real: Mapping[str, Any]):
        self._real = real
        self._made: dict[str, _DryResource] = {}

    def __getitem__(self, name: str) -> _DryResource:
        if name not in self._made:
            self._made[name] = _DryResource(name, self._real[name])
        return self._made[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._real)

    def __len__(self) -> int:
        return len(self._real)


class _DryResource:
    def __init__(self, name: str, real: Any):
        self.name = name
        self.dana_methods: dict[str, str] = {}
        if isinstance(real, MCPResource):
            for tool in real.tools:
                self._offer(_dana_name(tool.name), _dry_tool(tool, str))
        elif isinstance(real, ToolResource):
            returns = _return_type(real.func) if real.func is not None else str
            self._offer("call", _dry_tool(real, returns))
        else:
            for method, attr in _methods(real):
                fn = getattr(real, attr, None)
                if callable(fn):
                    self._offer(method, _dry_method(f"{name}.{method}", fn, method))

    def _offer(self, method: str, fn: Callable[..., Any]) -> None:
        attr = f"dry_{len(self.dana_methods)}"
        setattr(self, attr, fn)
        self.dana_methods[method] = attr


def _dry_tool(tool: ToolResource, returns: Any) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        if args:
            raise TypeError(f"tool {tool.name!r} takes keyword arguments only, got {len(args)} positional")
        if not tool.is_callable:
            raise ResourceError(f"tool {tool.name!r} has no implementation: want func= or command=")
        tool.validate_args(kwargs)
        return placeholder(returns)

    return call


def _dry_method(where: str, fn: Callable[..., Any], method: str) -> Callable[..., Any]:
    try:
        sig: inspect.Signature | None = inspect.signature(fn)
    except (TypeError, ValueError):
        sig = None
    returns = _return_type(fn)

    def call(*args: Any, **kwargs: Any) -> Any:
        if sig is not None:
            try:
                sig.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{where}(): {exc}") from None
        if method == "reason":  # an LLM resource: the answer has the type the program asked for
            desired = kwargs.get("__dana_desired_type")
            # Untyped, the text must also survive an annotated assignment (`n: int = ...`), which
            # coerces the real answer: "1" reads as a str, an int, a float and a bool alike.
            return "1" if desired is None else placeholder(desired)
        return placeholder(returns)

    return call
