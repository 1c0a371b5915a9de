"""Dana structs, interfaces and receiver methods.

A struct instance is a plain slotted object, so reading a field costs what it costs in Python;
validation and the JSON schema come from a shadow pydantic model built beside the class. The
constructor validates through that model. Assignment from Dana code is validated by the compiled
store (compile_expr.py): a per-site cache stores a value whose type is exactly a plain field type
(int, str, float, bool) directly, and sends everything else through ``validate_field``. Python code
that assigns a field itself is not checked (use ``model_validate`` or construct a new value).

Structs work wherever pydantic types do (``reason()``'s typed answers, fields of other models,
``model_dump``) through ``__get_pydantic_core_schema__``. Interfaces are structural: a value
satisfies one when it has the fields and methods, checked by ``isinstance``. Agents
(``agent_blueprint``, ``agent``) and ``resource`` types are structs too, with a base of their own;
an agent's methods call the host (agents.py).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model
from pydantic_core import core_schema

from . import agents
from .policy import RESERVED_STRUCT_NAMES
from .runtime import NO_DEFAULT
from .typespace import check_type

__all__ = [
    "DanaAgent",
    "DanaInterface",
    "DanaResource",
    "DanaStruct",
    "FieldSpec",
    "ReceiverFunction",
    "agent_name",
    "attach_receiver",
    "make_agent",
    "make_interface",
    "make_struct",
]

_SIMPLE = (int, str, float, bool)


def _validation_message(cls_name: str, err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        where = ".".join(str(x) for x in e.get("loc", ()))
        detail = f"{e.get('msg')}, got {e.get('input')!r}" if e.get("type") != "missing" else "field required"
        parts.append(f"{cls_name}.{where}: {detail}" if where else f"{cls_name}: {detail}")
    return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A struct field as Dana and Python callers read it (``Point.model_fields["x"]``): frozen, so
    no program can retype a field by rewriting its annotation."""

    name: str
    annotation: Any
    default: Any = NO_DEFAULT

    def is_required(self) -> bool:
        return self.default is NO_DEFAULT


def _plain(value: Any) -> Any:
    """A struct as dicts and lists all the way down (what ``model_dump`` returns)."""
    if isinstance(value, DanaStruct):
        return value.model_dump()
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class DanaStruct:
    """Base of every Dana struct: slotted fields, validated construction, ``Name(x=1, y=2)``."""

    __slots__ = ()
    __dana_model__: ClassVar[type[BaseModel]]
    """The shadow pydantic model: validation and JSON schema."""
    __dana_fields__: ClassVar[tuple[str, ...]] = ()
    __dana_simple__: ClassVar[dict[str, type]] = {}
    """Fields whose annotation is exactly int, str, float or bool (the compiled store's fast path)."""
    __dana_types__: ClassVar[dict[str, Any]] = {}
    """Each field's checked type (what a type descriptor of the struct carries)."""
    __dana_delegates__: ClassVar[tuple[str, ...]] = ()
    """Fields declared ``= delegate``: attributes the struct lacks are looked up on them, in order."""
    __dana_adapters__: ClassVar[dict[str, TypeAdapter[Any]]]

    def __init__(self, *args: Any, **kwargs: Any):
        cls = type(self)
        if args:
            names = cls.__dana_fields__
            if len(args) > len(names):
                raise TypeError(
                    f"{cls.__name__}() takes {len(names)} fields, got {len(args)} positional values"
                )
            for name, value in zip(names, args, strict=False):
                if name in kwargs:
                    raise TypeError(f"{cls.__name__}() got field {name!r} twice")
                kwargs[name] = value
        try:
            model = cls.__dana_model__(**kwargs)
        except ValidationError as err:
            raise TypeError(_validation_message(cls.__name__, err)) from None
        for name in cls.__dana_fields__:
            object.__setattr__(self, name, getattr(model, name))

    @classmethod
    def validate_field(cls, name: str, value: Any) -> Any:
        """The value a field stores for ``value`` (coerced like pydantic would), or TypeError."""
        if name not in cls.__dana_fields__:
            raise AttributeError(f"{cls.__name__} has no field {name!r}")
        adapter = cls.__dana_adapters__.get(name)
        if adapter is None:
            adapter = cls.__dana_adapters__[name] = TypeAdapter(
                cls.__dana_types__[name], config=ConfigDict(arbitrary_types_allowed=True)
            )
        try:
            return adapter.validate_python(value)
        except ValidationError as err:
            first = err.errors()[0]
            raise TypeError(f"{cls.__name__}.{name}: {first.get('msg')}, got {value!r}") from None

    @classmethod
    def model_validate(cls, data: Any) -> DanaStruct:
        """A struct from a mapping (or a struct), validated."""
        if isinstance(data, cls):
            return data
        return cls(**dict(data))

    @classmethod
    def model_json_schema(cls) -> dict[str, Any]:
        return cls.__dana_model__.model_json_schema()

    def model_dump(self) -> dict[str, Any]:
        return {name: _plain(getattr(self, name)) for name in self.__dana_fields__}

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__dana_fields__)
        return f"{type(self).__name__}({fields})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__dana_fields__)

    __hash__ = None  # type: ignore[assignment]  # mutable

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        from_model = core_schema.no_info_after_validator_function(
            lambda m: cls(**{n: getattr(m, n) for n in cls.__dana_fields__}), handler(cls.__dana_model__)
        )
        return core_schema.json_or_python_schema(
            json_schema=from_model,
            python_schema=core_schema.union_schema([core_schema.is_instance_schema(cls), from_model]),
            serialization=core_schema.plain_serializer_function_ser_schema(_plain),
        )


class DanaAgent(DanaStruct):
    """Base of agent types: ``agent_blueprint`` makes a subclass, ``agent Name(...)`` a subclass of
    its blueprint with one instance. ``plan``, ``solve``, ``reason`` and ``chat`` call the host's
    planning layer through the registered functions of agents.py; a receiver method of the same
    name replaces one (``def (i: Inspector) plan(task)``)."""

    __slots__ = ("_dana_history", "_dana_name")
    """The conversation ``chat()`` keeps, and the name ``agent Name`` gave: in this process only,
    neither crosses with the value."""
    __dana_host__: ClassVar[Callable[[str], Any] | None] = None
    """Finds a registered function by name (the runtime's table); None outside a run."""
    __dana_singleton__: ClassVar[bool] = False
    """True for the type of ``agent Name:`` without a blueprint (it has the one instance)."""

    def _ask(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return agents.call_agent_method(self, agent_name(self), method, *args, **kwargs)

    def plan(self, objective: Any, context: Any = None) -> Any:
        """A plan for ``objective`` drafted by the planning LLM: a list of steps (name, description,
        expected_duration)."""
        return self._ask("plan", str(objective), context=context)

    def solve(self, problem: Any, context: Any = None, strategy: str | None = None) -> Any:
        """The answer to ``problem`` from a reasoning strategy (chain of thought unless told)."""
        return self._ask(
            "solve", str(problem), context=context, strategy=strategy, desired=agents.desired_type()
        )

    def reason(self, prompt: Any, context: Any = None, strategy: str | None = None) -> Any:
        """The answer to ``prompt`` from a reasoning strategy (direct unless told)."""
        return self._ask(
            "reason", str(prompt), context=context, strategy=strategy, desired=agents.desired_type()
        )

    def chat(self, message: Any, context: Any = None, max_turns: int = agents.MAX_CHAT_TURNS) -> Any:
        """The reply to ``message`` in this agent's conversation (its last ``max_turns`` exchanges
        go along); the exchange is added to the conversation."""
        try:
            history: list[dict[str, str]] = object.__getattribute__(self, "_dana_history")
        except AttributeError:
            history = []
            object.__setattr__(self, "_dana_history", history)
        turns = max(int(max_turns), 0)
        sent = history[-2 * turns :] if turns else []
        text = str(message)
        reply = self._ask("chat", text, history=list(sent), context=context, desired=agents.desired_type())
        history += [{"role": "user", "content": text}, {"role": "assistant", "content": str(reply)}]
        return reply


class DanaResource(DanaStruct):
    """Base of ``resource`` types: structs for the things agents use; behaviour comes from
    receiver methods (``def (r: Docs) query(q: str)``)."""

    __slots__ = ()


def _delegated(self: DanaStruct, name: str) -> Any:
    """``__getattr__`` of a struct with delegate fields: ``car.horsepower`` is
    ``car.engine.horsepower`` when Car has no such field or method. Only public names are
    delegated (Python's protocols probe ``__deepcopy__`` and the like on the struct itself)."""
    cls = type(self)
    if not name.startswith("_"):
        for field in cls.__dana_delegates__:
            try:
                target = object.__getattribute__(self, field)
            except AttributeError:
                continue
            try:
                return getattr(target, name)
            except AttributeError:
                continue
    via = cls.__dana_delegates__
    nor = f", and neither has its delegate {' or '.join(via)}" if via else ""
    raise AttributeError(f"{cls.__name__} has no field or method {name!r}{nor}")


def _root(base: type) -> type:
    return DanaAgent if issubclass(base, DanaAgent) else DanaStruct


def _checked_fields(
    name: str, fields: dict[str, tuple[Any, Any]], root: type = DanaStruct
) -> dict[str, tuple[Any, Any]]:
    """Field names must be plain public identifiers that no struct method uses (a descriptor from
    a worker could otherwise name ``__repr__`` or ``model_dump``), field types Dana types. The
    struct's own name is any identifier (``struct _Point``): it names the class, no attribute."""
    if not isinstance(name, str) or not name.isidentifier():
        raise TypeError(f"struct name {str(name)[:60]!r}: want an identifier")
    what = "agent" if root is DanaAgent else "struct"
    for f, (t, _) in fields.items():
        if not isinstance(f, str) or not f.isidentifier() or f.startswith("_"):
            raise TypeError(f"{what} {name}: field name {str(f)[:60]!r}: want a public identifier")
        if f in RESERVED_STRUCT_NAMES or hasattr(root, f):
            raise TypeError(f"{what} {name}: a field may not be named {f!r}: every {what} has that name")
        check_type(t, f"{what} {name}: field {f}")
    return fields


def _build_model(name: str, fields: dict[str, tuple[Any, Any]], doc: str | None) -> type[BaseModel]:
    spec = {f: (t, ... if d is NO_DEFAULT else d) for f, (t, d) in fields.items()}
    return create_model(
        name, __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True), __doc__=doc, **spec
    )


def _struct_namespace(name: str, fields: dict[str, tuple[Any, Any]], doc: str | None) -> dict[str, Any]:
    return {
        "__doc__": doc,
        "__dana_model__": _build_model(name, fields, doc),
        "__dana_fields__": tuple(fields),
        "__dana_types__": {f: t for f, (t, _) in fields.items()},
        "__dana_simple__": {f: t for f, (t, _) in fields.items() if t in _SIMPLE},
        "__dana_adapters__": {},
        "model_fields": types.MappingProxyType({f: FieldSpec(f, t, d) for f, (t, d) in fields.items()}),
    }


def make_struct(
    name: str,
    fields: dict[str, tuple[Any, Any]],
    doc: str | None = None,
    *,
    canonical: dict[tuple[Any, ...], type[DanaStruct]] | None = None,
    base: type[DanaStruct] = DanaStruct,
    extra: dict[str, Any] | None = None,
    delegates: tuple[str, ...] = (),
) -> type[DanaStruct]:
    """Builds the class for ``struct name:`` with {field: (type, default or NO_DEFAULT)}.

    Every field type is checked first (a string annotation is a TypeError, never evaluated).
    With ``canonical`` (a worker's registry), a struct of the same name and field types reuses
    the class a decoded value already made, so values that crossed in are instances of it (unless
    that class lacks ``base``: an agent whose fields crossed in as a plain struct gets a new class).
    ``base`` is DanaStruct, DanaAgent, DanaResource or a struct class whose fields ``fields``
    repeat (a singleton agent's blueprint); ``extra`` adds class attributes. ``delegates`` name
    the fields whose attributes the struct offers as its own (``engine: Engine = delegate``).
    """
    _checked_fields(name, fields, _root(base))
    for d in delegates:
        if d not in fields:
            raise TypeError(f"struct {name}: delegate {str(d)[:60]!r} is not one of its fields")
    ns = _struct_namespace(name, fields, doc)
    ns["__dana_delegates__"] = tuple(delegates)
    if delegates:
        ns["__getattr__"] = _delegated
    ns.update(extra or {})
    key = None
    if canonical is not None:
        from .typespace import encode_type

        key = (name, repr([[f, encode_type(t)] for f, (t, _) in fields.items()]))
        existing = canonical.get(key)
        if existing is not None and issubclass(existing, base):
            for attr, value in ns.items():
                type.__setattr__(existing, attr, value)
            return existing
    inherited = base.__dana_fields__
    namespace = {"__slots__": tuple(f for f in fields if f not in inherited), "__module__": "dana", **ns}
    cls = type(name, (base,), namespace)
    # Lets pydantic serialize a struct found in an untyped (Any) field of another model.
    cls.__pydantic_serializer__ = TypeAdapter(cls).serializer
    if canonical is not None and key is not None:
        canonical[key] = cls
    return cls


def make_agent(
    name: str,
    blueprint: Any,
    fields: dict[str, tuple[Any, Any]],
    overrides: dict[str, Any],
    doc: str | None = None,
    *,
    host: Callable[[str], Any] | None = None,
    canonical: dict[tuple[Any, ...], type[DanaStruct]] | None = None,
    delegates: tuple[str, ...] = (),
) -> DanaAgent:
    """The instance ``agent name(blueprint):`` binds. With a blueprint it is an instance of the
    blueprint, ``overrides`` its field values: one type on both sides of the process boundary,
    so a singleton fits wherever its blueprint does (``lead: Inspector``). Without one it is the
    one instance of a type of its own, named ``name``, with ``fields``. Errors name the agent."""
    if blueprint is None:
        cls = make_struct(
            name,
            fields,
            doc,
            canonical=canonical,
            base=DanaAgent,
            extra={
                "__dana_host__": staticmethod(host) if host is not None else None,
                "__dana_singleton__": True,
            },
            delegates=delegates,
        )
        values: dict[str, Any] = {}
    else:
        if isinstance(blueprint, DanaAgent):
            bp = type(blueprint).__name__
            raise TypeError(f"agent {name}({bp}): {bp} is an agent, want an agent_blueprint")
        if not (isinstance(blueprint, type) and issubclass(blueprint, DanaAgent)):
            kind = "struct " if isinstance(blueprint, type) and issubclass(blueprint, DanaStruct) else ""
            got = f"{kind}{getattr(blueprint, '__name__', type(blueprint).__name__)}"
            raise TypeError(f"agent {name}({got}): want an agent_blueprint, got {got}")
        cls, values = blueprint, overrides
        known = blueprint.model_fields
        for f in overrides:
            if f not in known:
                fields_of = ", ".join(known) or "none"
                raise TypeError(
                    f"agent {name}: {blueprint.__name__} has no field {f!r} (its fields: {fields_of})"
                )
        missing = [f for f, spec in known.items() if spec.is_required() and f not in overrides]
        if missing:
            raise TypeError(
                f"agent {name}: field {missing[0]!r} has no value; give it one ({missing[0]} = ...)"
            )
    try:
        agent = cls(**values)
    except TypeError as err:
        raise TypeError(f"agent {name}: {err}") from None
    object.__setattr__(agent, "_dana_name", name)
    return agent


def agent_name(agent: DanaAgent) -> str:
    """The name an agent was declared with (``agent Alice(...)``), else its type's name."""
    try:
        return object.__getattribute__(agent, "_dana_name")
    except AttributeError:
        return type(agent).__name__


class DanaInterface(type):
    """The metaclass of ``interface`` types: ``isinstance`` checks fields and methods."""

    _fields: tuple[str, ...]
    _field_types: tuple[tuple[str, Any], ...]
    _methods: tuple[str, ...]

    def __instancecheck__(cls, obj: Any) -> bool:
        return all(hasattr(obj, f) for f in cls._fields) and all(
            callable(getattr(obj, m, None)) for m in cls._methods
        )

    def missing(cls, obj: Any) -> list[str]:
        """What ``obj`` lacks to satisfy this interface (empty when it does)."""
        return [f for f in cls._fields if not hasattr(obj, f)] + [
            f"{m}()" for m in cls._methods if not callable(getattr(obj, m, None))
        ]

    def __repr__(cls) -> str:
        return f"<interface {cls.__name__}>"


def make_interface(
    name: str,
    fields: dict[str, tuple[Any, Any]],
    methods: list[str],
    doc: str | None,
    embeds: tuple[Any, ...] = (),
) -> type:
    """The interface ``name``: its own fields and methods after those of the interfaces it
    embeds (a bare ``IReadable`` line), each embedded one an interface; a field two of them
    declare must have one type."""
    merged: dict[str, Any] = {}
    where: dict[str, str] = {}
    merged_methods: list[str] = []
    own = {f: t for f, (t, _) in fields.items()}
    for e in embeds:
        if not isinstance(e, DanaInterface):
            got = getattr(e, "__name__", None) or type(e).__name__
            raise TypeError(f"interface {name}: embeds {got}, want an interface")
        for f, t in e._field_types:
            if f in merged and merged[f] != t:
                raise TypeError(
                    f"interface {name}: field {f!r} is {_type_label(merged[f])} in {where[f]} "
                    f"and {_type_label(t)} in {e.__name__}"
                )
            merged[f], where[f] = t, e.__name__
        merged_methods += [m for m in e._methods if m not in merged_methods]
    for f, t in own.items():
        if f in merged and merged[f] != t:
            here, there = _type_label(t), _type_label(merged[f])
            raise TypeError(f"interface {name}: field {f!r} is {here} here and {there} in {where[f]}")
        check_type(t, f"interface {name}: field {f}")
        merged[f] = t
    merged_methods += [m for m in methods if m not in merged_methods]
    return DanaInterface(
        name,
        (),
        {
            "_fields": tuple(merged),
            "_field_types": tuple(merged.items()),
            "_methods": tuple(merged_methods),
            "__doc__": doc,
        },
    )


def _type_label(t: Any) -> str:
    return getattr(t, "__name__", None) or str(t)


class ReceiverFunction:
    """A receiver method that is also callable as a function: ``area(c)`` as well as ``c.area()``.

    Dispatches on the first argument's type, so ``def (c: Circle) area()`` and
    ``def (r: Rect) area()`` can share the name.
    """

    def __init__(self, name: str):
        self.__name__ = name
        self._impls: dict[type, Callable[..., Any]] = {}

    def add(self, types_: tuple[type, ...], fn: Callable[..., Any]) -> None:
        for t in types_:
            self._impls[t] = fn

    def __call__(self, obj: Any, *args: Any, **kwargs: Any) -> Any:
        for cls in type(obj).__mro__:
            fn = self._impls.get(cls)
            if fn is not None:
                return fn(obj, *args, **kwargs)
        want = " | ".join(t.__name__ for t in self._impls)
        raise TypeError(f"{self.__name__}() got a {type(obj).__name__}, want {want}")

    def __repr__(self) -> str:
        return f"<receiver function {self.__name__}>"


def receiver_types(annotation: Any) -> tuple[type, ...]:
    if isinstance(annotation, DanaAgent):
        if type(annotation).__dana_singleton__:
            return (type(annotation),)  # `def (b: Bob) greet()` for `agent Bob:` (a type of its own)
        bp = type(annotation).__name__
        raise TypeError(
            f"receiver type must be a struct: {agent_name(annotation)} is an agent of {bp}, "
            f"so its methods are {bp}'s: def (a: {bp}) ..."
        )
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return tuple(a for a in typing.get_args(annotation) if isinstance(a, type))
    if isinstance(annotation, type):
        return (annotation,)
    raise TypeError(f"receiver type must be a struct or a union of structs, got {annotation!r}")


def attach_receiver(
    registry: dict[str, ReceiverFunction], name: str, annotation: Any, fn: Callable[..., Any]
) -> ReceiverFunction:
    """Attaches ``fn`` as method ``name`` of the receiver's struct types; returns the dispatcher."""
    if name in RESERVED_STRUCT_NAMES or hasattr(DanaStruct, name):
        raise TypeError(f"a receiver method may not be named {name!r}: the name belongs to every struct")
    types_ = receiver_types(annotation)
    for t in types_:
        if issubclass(t, DanaStruct):
            if name in t.__dana_fields__:
                raise TypeError(f"receiver {name}() would hide the field {t.__name__}.{name}")
            setattr(t, name, fn)
    dispatcher = registry.get(name)
    if dispatcher is None:
        dispatcher = registry[name] = ReceiverFunction(name)
    dispatcher.add(types_, fn)
    return dispatcher
