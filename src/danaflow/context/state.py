"""The state views of seed 000: AgentState, WorldState and ExecutionState.

They are not copies of the Dana scopes, they ARE the scope dicts (``private:``, ``public:``,
``system:``): an ExecutionContext given ``agent_state=AgentState()`` installs that object as its
private scope, so a Dana program's ``private:current_step = 2`` reads back as
``ctx.agent_state.current_step``. ``update(**fields)`` is atomic: every field is validated before
any is written, under the lock the sandbox uses for multi-key updates.

A subclass may declare typed fields (``current_step: int = 0``); their values are validated with
pydantic on every ``update``, attribute assignment and item store (so on Dana writes too).

An ExecutionState also carries the ``system:`` keys Dana code may read but not write (the root
context's ``global_context``), so every sandbox built over the same scope enforces the same ones.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import TypeAdapter, ValidationError

from danaflow.errors import DanaflowError
from danaflow.lang.sandbox import ScopeDict

__all__ = ["AgentState", "ExecutionState", "StateView", "WorldState"]

_OWN_SLOTS = frozenset({"scope", "_lock", "_reserved_keys"})
_UNSET: Any = object()


class StateView(ScopeDict):
    """A scope dict with attribute access and an all-or-nothing ``update``."""

    __slots__ = ("_lock",)
    scope_name: ClassVar[str] = "local"
    _field_types: ClassVar[dict[str, Any]] = {}
    _field_defaults: ClassVar[dict[str, Any]] = {}
    _adapters: ClassVar[dict[str, TypeAdapter[Any]]] = {}

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        types = dict(cls._field_types)
        defaults = dict(cls._field_defaults)
        try:
            annotations = inspect.get_annotations(cls, eval_str=True)
        except Exception:  # a forward reference the module cannot resolve: keep the strings
            annotations = inspect.get_annotations(cls)
        for name, annotation in annotations.items():
            if name.startswith("_") or name == "scope_name":
                continue
            types[name] = annotation
            if name in cls.__dict__:
                defaults[name] = cls.__dict__[name]
                # A class attribute would shadow the dict key on attribute reads.
                delattr(cls, name)
        cls._field_types = types
        cls._field_defaults = defaults
        cls._adapters = {}
        if types and "__setitem__" not in cls.__dict__:
            # Typed fields: Dana's `private:step = v` (a plain item store) is validated too. Views
            # without typed fields keep dict's C-level store, so untyped state stays fast.
            cls.__setitem__ = StateView._validated_setitem  # type: ignore[method-assign]

    def _validated_setitem(self, key: str, value: Any) -> None:
        if key in self._field_types:
            with self._lock:
                dict.update(self, self._validated({key: value}))
        else:
            dict.__setitem__(self, key, value)

    def __init__(self, initial: Mapping[str, Any] | None = None, /, **fields: Any):
        super().__init__(self.scope_name)
        object.__setattr__(self, "_lock", threading.RLock())
        values = {**self._field_defaults, **(initial or {}), **fields}
        dict.update(self, self._validated(values))

    # ---- attribute access --------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        value = dict.get(self, name, _UNSET)
        if value is _UNSET:
            raise AttributeError(
                f"{type(self).__name__} has no field {name!r} ({self.scope}:{name} is not set)"
            )
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OWN_SLOTS:
            object.__setattr__(self, name, value)
        else:
            self.update(**{name: value})

    def __delattr__(self, name: str) -> None:
        self.pop(name, None)

    # ---- atomic update -----------------------------------------------------------------------
    def update(self, other: Mapping[str, Any] | None = None, /, **fields: Any) -> None:  # type: ignore[override]
        """Sets several fields at once: all of them or, when one is invalid, none."""
        values = {**(other or {}), **fields}
        with self._lock:
            checked = self._validated(values)
            dict.update(self, checked)

    def _validated(self, values: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        problems: list[str] = []
        for name, value in values.items():
            if not isinstance(name, str) or not name.isidentifier():
                problems.append(f"{name!r}: want an identifier")
                continue
            annotation = self._field_types.get(name)
            if annotation is None:
                out[name] = value
                continue
            adapter = self._adapters.get(name)
            if adapter is None:
                adapter = self._adapters[name] = TypeAdapter(annotation)
            try:
                out[name] = adapter.validate_python(value)
            except ValidationError as exc:
                first = exc.errors()[0]
                problems.append(f"{name}: got {value!r}, want {annotation!r} ({first['msg']})")
        if problems:
            raise DanaflowError(f"{type(self).__name__}.update refused: " + "; ".join(problems))
        return out

    def to_dict(self) -> dict[str, Any]:
        return dict(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)})"


class AgentState(StateView):
    """The agent's own state: the ``private:`` scope of the nearest agent."""

    __slots__ = ()
    scope_name = "private"


class WorldState(StateView):
    """The shared world: the run's ``public:`` scope."""

    __slots__ = ()
    scope_name = "public"


class ExecutionState(StateView):
    """The runtime's bookkeeping: the run's ``system:`` scope."""

    __slots__ = ("_reserved_keys",)
    scope_name = "system"

    def __init__(self, initial: Mapping[str, Any] | None = None, /, **fields: Any):
        object.__setattr__(self, "_reserved_keys", set())
        super().__init__(initial, **fields)

    @property
    def reserved_keys(self) -> set[str]:
        """Keys Dana code may read but not write; a SandboxContext over this scope shares the set
        as its ``reserved_system_keys``. (Keys starting with ``__`` are always read-only.)"""
        return self._reserved_keys
