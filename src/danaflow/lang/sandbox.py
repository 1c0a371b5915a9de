"""SandboxContext: the holder of the four Dana scopes and of what a program may reach.

It owns the ``local:``, ``private:``, ``public:`` and ``system:`` dicts, the FunctionRegistry, the
``reason()`` handler and the resource lookup used by ``use()``. It knows nothing of flows or runs:
the ExecutionContext above builds one per component and shares the public/system dicts per run.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from danaflow.errors import DanaflowError, DanaNameError

from .policy import DEFAULT_POLICY, SandboxPolicy
from .registry import FunctionRegistry

__all__ = [
    "SCOPES",
    "Reasoner",
    "SandboxContext",
    "ScopeDict",
    "split_scoped_name",
]

SCOPES = ("local", "private", "public", "system")
_DANA_LOG = logging.getLogger("danaflow.dana")
_MISSING: Any = object()


class Reasoner(Protocol):
    """What ``reason()`` needs from the LLM layer; ``LLMResource`` satisfies it."""

    def reason(self, prompt: str, desired_type: Any = None, **options: Any) -> Any: ...


class ScopeDict(dict):
    """A scope's variables. Reading a missing name raises DanaNameError, never returns None."""

    __slots__ = ("scope",)

    def __init__(self, scope: str, initial: Mapping[str, Any] | None = None):
        super().__init__(initial or {})
        self.scope = scope

    def __missing__(self, key: str) -> Any:
        raise DanaNameError(f"{self.scope}:{key} is not defined", error_type="NameError")

    def __repr__(self) -> str:
        return f"ScopeDict({self.scope!r}, {dict.__repr__(self)})"


def split_scoped_name(key: str) -> tuple[str, str]:
    """Splits ``"private:x"`` or ``"private.x"`` into (scope, name); a bare name is ``local``.

    This is the one place that parses scoped names for the Python API.
    """
    for sep in (":", "."):
        scope, found, name = key.partition(sep)
        if found and scope in SCOPES:
            if not name:
                raise DanaflowError(f"bad variable name {key!r}: want 'scope:name'")
            return scope, name
    if ":" in key:
        raise DanaflowError(f"unknown scope in {key!r}: want one of {', '.join(SCOPES)}")
    return "local", key


class SandboxContext:
    """The state of a running Dana program, organized by scopes.

    ``child()`` makes a context for a nested component that shares ``public:`` and ``system:``
    (one per run) and, unless told otherwise, ``private:`` (one per agent), with a fresh ``local:``.
    """

    def __init__(
        self,
        initial_private_state: Mapping[str, Any] | None = None,
        initial_public_state: Mapping[str, Any] | None = None,
        initial_local_state: Mapping[str, Any] | None = None,
        initial_system_state: Mapping[str, Any] | None = None,
        *,
        registry: FunctionRegistry | None = None,
        reasoner: Reasoner | None = None,
        resources: Mapping[str, Any] | None = None,
        allow_python_modules: Iterable[str] = (),
        print_sink: Callable[[str], None] | None = None,
        policy: SandboxPolicy | None = None,
    ):
        self.local = ScopeDict("local", initial_local_state)
        self.private = ScopeDict("private", initial_private_state)
        self.public = ScopeDict("public", initial_public_state)
        self.system = ScopeDict("system", initial_system_state)
        self.registry = registry if registry is not None else FunctionRegistry()
        self.reasoner = reasoner
        """Answers ``reason()``; None means the embedding layer has not configured an LLM."""
        self.resources: Mapping[str, Any] = resources if resources is not None else {}
        """What ``use(name)`` can return; the ExecutionContext passes a lookup over its hierarchy."""
        policy = policy if policy is not None else DEFAULT_POLICY
        if allow_python_modules:
            policy = policy.widen(allow_python_modules=allow_python_modules)
        self.policy: SandboxPolicy = policy
        """Every rule the programs run in this context are held to (lang/policy.py)."""
        self.print_sink = print_sink
        """Where ``print()`` writes; None means sys.stdout."""
        self.reserved_system_keys: set[str] = set()
        """system: keys the runtime owns; Dana code may read but not write them."""
        self.lock = threading.RLock()
        """Guards multi-key updates (the state views' atomic ``update``)."""

    # ---- scopes -------------------------------------------------------------------------------
    def scope(self, name: str) -> ScopeDict:
        if name not in SCOPES:
            raise DanaflowError(f"unknown scope {name!r}: want one of {', '.join(SCOPES)}")
        return getattr(self, name)

    def get(self, key: str, default: Any = _MISSING) -> Any:
        """Reads ``"scope:name"`` (or ``"scope.name"``); a bare name reads ``local:``."""
        scope, name = split_scoped_name(key)
        d = self.scope(scope)
        if name in d:
            return d[name]
        if default is _MISSING:
            raise DanaNameError(f"{scope}:{name} is not defined", error_type="NameError")
        return default

    def set(self, key: str, value: Any) -> None:
        """Writes ``"scope:name"``; the Python API may write reserved system keys, Dana code may not."""
        scope, name = split_scoped_name(key)
        self.scope(scope)[name] = value

    def has(self, key: str) -> bool:
        scope, name = split_scoped_name(key)
        return name in self.scope(scope)

    def delete(self, key: str) -> None:
        scope, name = split_scoped_name(key)
        self.scope(scope).pop(name, None)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """A shallow copy of every scope, keyed by scope name."""
        return {s: dict(getattr(self, s)) for s in SCOPES}

    def child(
        self,
        *,
        private: Mapping[str, Any] | ScopeDict | None = None,
        local: Mapping[str, Any] | None = None,
    ) -> SandboxContext:
        """A context sharing this one's public/system scopes, registry, reasoner and limits."""
        new = object.__new__(SandboxContext)
        new.__dict__.update(self.__dict__)
        new.local = ScopeDict("local", local)
        if private is None:
            new.private = self.private
        elif isinstance(private, ScopeDict):
            new.private = private
        else:
            new.private = ScopeDict("private", private)
        new.lock = threading.RLock() if private is not None else self.lock
        return new

    @property
    def allow_python_modules(self) -> frozenset[str]:
        """Python modules beyond the curated ones that ``import`` may load (from the policy)."""
        return self.policy.allow_python_modules

    # ---- output --------------------------------------------------------------------------------
    def emit_log(self, record: Mapping[str, Any]) -> None:
        """Hands one ``log()`` record to the host's logging (the run already applied its level)."""
        level = logging.getLevelName(str(record.get("level", "info")).upper())
        num = level if isinstance(level, int) else logging.INFO
        fields = {k: v for k, v in record.items() if k not in ("level", "message")}
        rec = _DANA_LOG.makeRecord(
            _DANA_LOG.name,
            num,
            "<dana>",
            0,
            str(record.get("message", "")),
            (),
            None,
            extra={"dana_fields": fields},
        )
        _DANA_LOG.handle(rec)

    def write_output(self, text: str) -> None:
        if self.print_sink is not None:
            self.print_sink(text)
        else:
            sys.stdout.write(text)

    def __repr__(self) -> str:
        return (
            f"SandboxContext(local={len(self.local)}, private={len(self.private)}, "
            f"public={len(self.public)}, system={len(self.system)})"
        )
