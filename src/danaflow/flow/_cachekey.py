"""Cache keys: one digest of a node's code and of everything the node can read when it runs.

A key must change whenever the node's result could: its code (its settings, a Dana program's
source, a Python function's bytecode), its input, the variables visible to it, and the scope values
and component results it reads. What a node reads is known exactly for a Dana program (the
compiler's ``refs``) and for templates (their ``$hier{}`` paths and ``$expr{}`` names); a Python
callable, or a node type this module does not know, can read anything, so its key covers every
finished result and every scope value of the run. A value with no stable form (an object printed
with its address) gives a key that never matches again: a miss, never a wrong hit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import PurePath
from types import CodeType
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from pydantic import BaseModel

from danaflow.context.result import NodeExecutionResult
from danaflow.errors import DanaflowError
from danaflow.template.scanner import Ref, ScanError, scan

from .nodes.ai_model import AIModelNode
from .nodes.base import Node
from .nodes.command import CommandNode
from .nodes.dana import DanaNode
from .nodes.file_operation import FileOperationNode
from .nodes.folder_analyzer import FolderAnalyzerNode

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext

    from .policies import CachePolicy

__all__ = ["SCOPES", "KeyMemo", "NodeKey", "memo_for", "node_key", "scope_writes"]

SCOPES = {"private": "agent_state", "public": "world_state", "system": "execution_state"}
"""Each Dana scope a node can read or write, and the ExecutionContext property that holds it."""
_TEMPLATE_NODES = (AIModelNode, CommandNode, FileOperationNode, FolderAnalyzerNode)
"""Node types that read only through their templates (besides their input and variables)."""
_MISSING = "<missing>"
_RESULT_FIELDS = {"execution_status", "outcome", "output"}
"""What a result read by another node is (its timing and usage are not)."""


@dataclass(frozen=True, slots=True)
class NodeKey:
    """A node's cache key and what a hit must replay."""

    digest: str
    writes: tuple[tuple[str, str], ...] = ()
    """(scope, name) pairs a DanaNode may write (its ``refs``), replayed on a hit."""


class KeyMemo:
    """What one run's keys share, computed once: node fingerprints and the digest of every
    finished result. One per run (``memo_for``): across runs a node's settings may change.

    The runner reports each result as it is set (``finished``); the digest of them all is a sum
    of per-result digests modulo 2**256, so it stays current in constant time per result
    whatever the run's size (a Python node's key covers every result).
    """

    __slots__ = ("_default_llm", "_items", "_pending", "_total", "nodes", "results")

    def __init__(self) -> None:
        self.nodes: dict[int, tuple[Node, str, tuple[str, ...]]] = {}
        self.results: dict[int, tuple[NodeExecutionResult, str]] = {}
        self._items: dict[str, int] = {}
        self._pending: list[tuple[str, NodeExecutionResult]] = []
        self._total = 0
        self._default_llm: str | None = None

    def _node(self, node: Node) -> tuple[Node, str, tuple[str, ...]]:
        hit = self.nodes.get(id(node))
        if hit is None or hit[0] is not node:
            state = fingerprint(node)
            hit = self.nodes[id(node)] = (node, _digest(state), tuple(sorted(set(_strings(state)))))
        return hit

    def node(self, node: Node) -> str:
        """The digest of the node's definition."""
        return self._node(node)[1]

    def texts(self, node: Node) -> tuple[str, ...]:
        """Every string with a ``$`` in the node's settings: the templates it may render."""
        return self._node(node)[2]

    def default_llm(self) -> str:
        """The model spec a node with no LLM of its own gets (``DANAFLOW_LLM``, the config file)."""
        if self._default_llm is None:
            from danaflow.llm.config import configured_spec

            self._default_llm = configured_spec()[0]
        return self._default_llm

    def result(self, result: NodeExecutionResult) -> str:
        """The digest of what another node reads of ``result`` (status, outcome, output)."""
        hit = self.results.get(id(result))
        if hit is None or hit[0] is not result:
            data = result.model_dump_json(include=_RESULT_FIELDS, fallback=repr)
            hit = self.results[id(result)] = (result, _digest(data))
        return hit[1]

    def finished(self, path: str, result: NodeExecutionResult) -> None:
        """The component at ``path`` has ``result`` now (digested when a key first needs it)."""
        self._pending.append((path, result))

    def all_results(self) -> str:
        """The digest of every result reported so far, by path (a later one replaces an earlier)."""
        mod = 1 << 256
        for path, result in self._pending:
            item = int(_digest(f"{path} {self.result(result)}", size=32), 16)
            self._total = (self._total - self._items.get(path, 0) + item) % mod
            self._items[path] = item
        self._pending.clear()
        return f"{len(self._items)}:{self._total:064x}"


_MEMOS: WeakKeyDictionary[ExecutionContext, KeyMemo] = WeakKeyDictionary()


def memo_for(ctx: ExecutionContext) -> KeyMemo:
    """The KeyMemo of the run ``ctx`` belongs to (kept on its root context, so a flow executed
    inside a running node shares it)."""
    root = ctx.root
    memo = _MEMOS.get(root)
    if memo is None:
        memo = _MEMOS[root] = KeyMemo()
    return memo


def node_key(policy: CachePolicy, node: Node, ctx: ExecutionContext, memo: KeyMemo) -> NodeKey | None:
    """The key of ``node`` about to run in ``ctx``, or None when it has none (a program that does
    not compile, a template that does not resolve, a value JSON cannot hold): then the node runs,
    uncached, and fails or succeeds as it would have."""
    try:
        llm = ctx.llm
        parts: dict[str, Any] = {"node": memo.node(node), "llm": _llm_identity(llm) or memo.default_llm()}
        writes: tuple[tuple[str, str], ...] = ()
        if policy.key is not None:
            parts["key"] = policy.key(ctx) if callable(policy.key) else policy.key
        else:
            parts["input"] = ctx.node_input
            parts["variables"] = ctx.visible_variables()
            if isinstance(node, DanaNode):
                parts["reads"], writes = _dana_reads(node, ctx, memo)
            elif isinstance(node, _TEMPLATE_NODES):
                parts["reads"] = _template_reads(node, ctx, memo)
            else:
                parts["reads"] = _everything(ctx, memo)
        return NodeKey(_digest(parts), writes)
    except (DanaflowError, TypeError, ValueError, LookupError, AttributeError, RecursionError):
        return None


def scope_writes(key: NodeKey, ctx: ExecutionContext) -> dict[str, Any]:
    """The current values of the scoped names a DanaNode may have written, as ``{"public:x": v}``."""
    out: dict[str, Any] = {}
    for scope, name in key.writes:
        values = getattr(ctx, SCOPES[scope])
        if name in values:
            out[f"{scope}:{name}"] = values[name]
    return out


# ---- what a node reads ----------------------------------------------------------------------------
def _dana_reads(
    node: DanaNode, ctx: ExecutionContext, memo: KeyMemo
) -> tuple[list[Any], tuple[tuple[str, str], ...]]:
    from danaflow.lang.compiler import compile_program  # deferred: the compiler loads lark

    source, filename = node.source()
    refs = compile_program(source, f"<{ctx.path}>" if node.program is not None else filename).refs
    variables = ctx.visible_variables()
    reads: list[Any] = []
    writes: list[tuple[str, str]] = []
    for scope, name in sorted(refs.scoped):
        if scope in SCOPES and not name.startswith("__"):
            writes.append((scope, name))
        if scope in SCOPES:
            reads.append([scope, name, _scope_value(ctx, scope, name)])
    for name in sorted(refs.free - variables.keys()):
        reads.append(["free", name, *_unscoped(ctx, name)])
    if "result" in refs.free:
        # result("path") takes any string at run time: every finished result may be read.
        reads.append(["results", _results(ctx, memo)])
    reads.append(["imports", list(refs.imports)])
    return reads, tuple(writes)


def _template_reads(node: Node, ctx: ExecutionContext, memo: KeyMemo) -> list[Any]:
    """The values a template node's templates read: every string in its settings is scanned (a
    field that is not a template reads nothing), so no field is missed."""
    from danaflow.template.engine import TemplateEngine

    reads: list[Any] = []
    for text in memo.texts(node):
        try:
            segments = scan(text)
        except ScanError:
            continue
        for seg in segments:
            if not isinstance(seg, Ref):
                continue
            refs = [seg, *(p for p in seg.parts if isinstance(p, Ref))]
            for ref in refs:
                if ref.kind == "hier":
                    value = TemplateEngine.resolve_path(
                        ref.body, ctx, kind="hier", name=f"{ctx.path} cache key"
                    )
                    reads.append(["hier", ref.body, _digest_value(value, memo)])
            if seg.kind == "expr":
                reads.extend(_expr_reads(seg, ctx))
    return reads


def _expr_reads(ref: Ref, ctx: ExecutionContext) -> list[Any]:
    from danaflow.lang.compiler import compile_expression_code

    internal: list[str] = []
    pieces: list[str] = []
    for part in ref.parts:
        if isinstance(part, str):
            pieces.append(part)
        else:
            internal.append(f"_{part.kind}_{len(internal)}")
            pieces.append(internal[-1])
    source = "".join(pieces).strip()
    if not source or source.startswith("py:"):
        return []  # a Python expression sees variables and results only, both in the key already
    refs = compile_expression_code(source, mapping_attrs=True, internal_names=frozenset(internal)).refs
    variables = ctx.visible_variables()
    reads: list[Any] = [
        [scope, name, _scope_value(ctx, scope, name)]
        for scope, name in sorted(refs.scoped)
        if scope in SCOPES
    ]
    reads += [["free", name, *_unscoped(ctx, name)] for name in sorted(refs.free - variables.keys())]
    return reads


def _scope_value(ctx: ExecutionContext, scope: str, name: str) -> Any:
    if scope == "system" and name == "dana_version":
        # Set by the runtime when the first program runs, so absent before that: read its source.
        from danaflow.lang.api import dana_version

        return dana_version()
    return getattr(ctx, SCOPES[scope]).get(name, _MISSING)


def _unscoped(ctx: ExecutionContext, name: str) -> list[Any]:
    """Where an unscoped name that is no variable resolves: the first scope that has it."""
    for scope, attr in SCOPES.items():
        values = getattr(ctx, attr)
        if name in values:
            return [scope, values[name]]
    return [_MISSING]


def _everything(ctx: ExecutionContext, memo: KeyMemo) -> list[Any]:
    """For code that can read anything: every finished result and every scope value (the
    runtime's reserved keys left out: ``__run_id`` changes every run, ``dana_version`` appears
    once a program ran)."""
    reserved = {"dana_version", *ctx.sandbox.reserved_system_keys}
    scopes = {
        scope: {k: v for k, v in getattr(ctx, attr).items() if not k.startswith("__") and k not in reserved}
        for scope, attr in SCOPES.items()
    }
    return [["results", _results(ctx, memo)], ["scopes", scopes]]


def _results(ctx: ExecutionContext, memo: KeyMemo) -> str:
    """Every finished result in the run (the node's own is not set yet while its key is made)."""
    return memo.all_results()


def _digest_value(value: Any, memo: KeyMemo) -> str:
    if isinstance(value, NodeExecutionResult):
        return memo.result(value)
    return _digest(value)


# ---- fingerprints and canonical JSON --------------------------------------------------------------
def fingerprint(node: Node) -> dict[str, Any]:
    """A node's definition as data: its type, its public attributes (settings), and for a DanaNode
    its program text (also when it comes from a file)."""
    state: dict[str, Any] = {"type": f"{type(node).__module__}.{type(node).__qualname__}"}
    for name, value in vars(node).items():
        if not name.startswith("_"):
            state[name] = value
    if isinstance(node, DanaNode):
        state["source"] = node.source()[0]
    return state


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if "$" in value:
            yield value
    elif isinstance(value, BaseModel):
        yield from _strings(value.model_dump(mode="json"))
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def _digest(value: Any, size: int = 20) -> str:
    text = value if isinstance(value, str) else _canonical(value)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=size).hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def _default(value: Any) -> Any:
    """The stable form of what JSON lacks (TypeError would make the node uncached)."""
    if isinstance(value, NodeExecutionResult):
        return {
            "result": value.model_dump_json(include={"execution_status", "outcome", "output"}, fallback=repr)
        }
    if isinstance(value, BaseModel):
        return {"model": type(value).__qualname__, "data": value.model_dump(mode="json", fallback=repr)}
    if isinstance(value, set | frozenset):
        return {"set": sorted(_canonical(v) for v in value)}
    if isinstance(value, bytes | bytearray):
        return {"bytes": bytes(value).hex()}
    if isinstance(value, PurePath):
        return {"path": str(value)}
    if isinstance(value, datetime | date):
        return {"time": value.isoformat()}
    if isinstance(value, Enum):
        return {"enum": type(value).__qualname__, "value": value.value}
    if isinstance(value, type):
        return {"class": f"{value.__module__}.{value.__qualname__}"}
    if callable(value):
        return _callable(value)
    identity = _llm_identity(value)
    if identity is not None:
        return identity
    return {"object": type(value).__qualname__, "repr": repr(value)}


def _callable(fn: Any, depth: int = 0) -> dict[str, Any]:
    """A function by its code (not its address): bytecode, constants, names, defaults and, one
    level deep, the values it closes over."""
    import functools

    if isinstance(fn, functools.partial):
        return {"partial": _callable(fn.func, depth), "args": list(fn.args), "kwargs": dict(fn.keywords)}
    func = getattr(fn, "__func__", fn)  # a bound method: its function (the instance is in repr below)
    code = getattr(func, "__code__", None)
    if code is None:
        call = getattr(type(fn), "__call__", None)  # noqa: B004 - a callable object
        code = getattr(call, "__code__", None)
        if code is None:
            return {"object": type(fn).__qualname__, "repr": repr(fn)}
    out: dict[str, Any] = {"code": _code(code), "name": getattr(func, "__qualname__", None)}
    out["defaults"] = [_plain(v, depth) for v in getattr(func, "__defaults__", None) or ()]
    out["kwdefaults"] = {
        k: _plain(v, depth) for k, v in (getattr(func, "__kwdefaults__", None) or {}).items()
    }
    cells = getattr(func, "__closure__", None) or ()
    out["closure"] = [_plain(_cell(c), depth) for c in cells]
    if func is not fn and hasattr(fn, "__self__"):
        out["self"] = repr(fn.__self__)
    return out


def _cell(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell (a name assigned later)
        return _MISSING


def _plain(value: Any, depth: int) -> Any:
    """A closure or default value; functions inside it are taken by code only, one level deep,
    so a recursive closure cannot recurse here."""
    if callable(value) and not isinstance(value, type):
        return _callable(value, depth + 1) if depth < 1 else {"code": _code(getattr(value, "__code__", None))}
    return value


def _code(code: CodeType | None) -> Any:
    if code is None:
        return None
    consts: list[Any] = []
    for c in code.co_consts:
        if isinstance(c, CodeType):
            consts.append(_code(c))
        elif isinstance(c, frozenset):
            consts.append(sorted(repr(x) for x in c))  # set order varies with the hash seed
        else:
            consts.append(repr(c))
    return [code.co_qualname, code.co_code.hex(), consts, list(code.co_names), code.co_argcount]


def _llm_identity(llm: Any) -> dict[str, Any] | None:
    """An LLM by what decides its answers: its model spec and call settings (None: not an LLM)."""
    if llm is None:
        return None
    model = getattr(llm, "model", None)
    if not isinstance(model, str):
        return None
    out: dict[str, Any] = {"llm": type(llm).__qualname__, "model": model}
    for name in ("system", "temperature", "max_tokens"):
        value = getattr(llm, name, None)
        if value is None or isinstance(value, str | int | float):
            out[name] = value
    return out
