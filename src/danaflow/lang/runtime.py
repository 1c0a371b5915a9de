"""What generated Dana code calls at run time, gathered into one run's globals.

``Runtime`` builds the globals dict a compiled program executes in: the scope dicts, the builtins,
the registry's functions and the ``_``-prefixed helpers the compiler emits (imports, structs,
receivers, guarded attributes, desired type, step budget). One Runtime serves one top-level run
and the .na modules it imports.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from danaflow.errors import DanaNameError, SandboxError

from .builtins import (
    DESIRED_TYPE,
    FORBIDDEN_NAMES,
    SAFE_BUILTINS,
    context_builtins,
    host_call,
    safe_format,
    safe_format_map,
)
from .modules import Namespace, load_module
from .names import PREFIX, user_name
from .policy import CURATED_MODULES
from .sandbox import SandboxContext
from .typespace import check_type

__all__ = [
    "DEFAULT_PYTHON_MODULES",
    "DanaModule",
    "Runtime",
    "StepLimitExceeded",
    "TimeoutExpired",
    "coerce",
    "find_dana_module",
    "store_attribute",
    "undefined_name",
]

DEFAULT_PYTHON_MODULES = frozenset(CURATED_MODULES)


class StepLimitExceeded(BaseException):
    """Raised at a loop back-edge or call once the step budget is spent (uncatchable from Dana)."""


class TimeoutExpired(BaseException):
    """Raised asynchronously in the running thread when the wall-clock timeout passes."""


def _kwcall(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A call with a ``_`` keyword: a Dana function's ``_a`` parameter is ``dana·_a`` in Python
    (names.py), so the keyword is renamed for the functions that have such a parameter; any
    other callee gets the keyword as written."""
    target = fn.__func__ if type(fn) is types.MethodType else fn
    if type(target) is types.FunctionType:
        code = target.__code__
        params = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        kwargs = {PREFIX + k if PREFIX + k in params else k: v for k, v in kwargs.items()}
    return fn(*args, **kwargs)


def _named(fn: Any, name: str) -> None:
    """Gives a function the user's spelling of its name (``_helper``, not ``dana·_helper``)."""
    fn.__name__ = fn.__qualname__ = name


_MODULE_NAME = PREFIX + "name"
"""Where a DanaModule keeps its own name: a key no Dana identifier can spell (names.py)."""


class DanaModule:
    """An imported .na module: its top-level names, read-only. Its own ``_`` names are members
    too (``from m import _helper``); ``m._helper`` stays refused, as every ``_`` attribute is."""

    def __init__(self, name: str, path: str | None, namespace: Mapping[str, Any]):
        self.__dict__.update(namespace)
        self.__dict__[_MODULE_NAME] = name

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"module {self.__dict__[_MODULE_NAME]!r} is read-only")

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"module {self.__dict__[_MODULE_NAME]!r} has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"<dana module {self.__dict__[_MODULE_NAME]}>"

    def member(self, name: str) -> Any:
        """The module's own top-level ``name`` (never a Python attribute such as ``__class__``)."""
        members = self.__dict__
        if name == _MODULE_NAME or name not in members:
            raise ImportError(f"cannot import name {name!r} from {self!r}")
        return members[name]


_UNLIMITED = 1 << 62


class _SystemWriter:
    """``system:x = v`` goes through here so the runtime's reserved keys stay read-only."""

    __slots__ = ("ctx",)

    def __init__(self, ctx: SandboxContext):
        self.ctx = ctx

    def __getitem__(self, key: str) -> Any:
        return self.ctx.system[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key.startswith("__") or key in self.ctx.reserved_system_keys:
            raise SandboxError(
                f"system:{key} is reserved by the runtime and read-only", error_type="SandboxError"
            )
        self.ctx.system[key] = value


def _guarded_attr(obj: Any, name: str) -> Any:
    """``x.format`` / ``x.format_map`` on strings use the formatter that refuses attribute access."""
    if name == "format" and (obj is str or isinstance(obj, str)):
        return safe_format if obj is str else lambda *a, **k: safe_format(obj, *a, **k)
    if name == "format_map" and (obj is str or isinstance(obj, str)):
        return safe_format_map if obj is str else lambda m: safe_format_map(obj, m)
    return dotted_attr(obj, name)


_DICT_ATTRS = frozenset(a for a in dir(dict) if not a.startswith("_"))


def dict_attr(d: dict, name: str) -> Any:
    """``d.name`` on a dict: a real dict attribute (``d.items``) first, then the key, else
    AttributeError naming both."""
    if name in _DICT_ATTRS:
        return getattr(d, name)
    try:
        return d[name]
    except KeyError:
        raise AttributeError(f"dict has no key or attribute {name!r}") from None


def dotted_attr(obj: Any, name: str) -> Any:
    """``expr.name`` when ``expr`` is not a plain name: the same rule as for names."""
    if type(obj) is dict:
        return dict_attr(obj, name)
    return getattr(obj, name)


def _mapping_attr(obj: Any, name: str) -> Any:
    """Template semantics: ``a.b`` reads key "b" of a mapping when present, else the attribute."""
    if isinstance(obj, Mapping) and name in obj:
        return obj[name]
    try:
        return _guarded_attr(obj, name)
    except AttributeError:
        kind = "mapping" if isinstance(obj, Mapping) else type(obj).__name__
        raise AttributeError(f"{kind} has no key or attribute {name!r}") from None


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()
"""Marks a struct field without a default."""


def _make_interface(
    name: str,
    fields: dict[str, tuple[Any, Any]],
    methods: list[str],
    doc: str | None,
    embeds: tuple[Any, ...] = (),
) -> type:
    from . import structs

    return structs.make_interface(name, fields, methods, doc, embeds)


class _Uncached:
    """The initial value of a store site's cache: no object or value has this type."""


def store_attribute(obj: Any, name: str, value: Any, cache: dict[str, Any], site: int) -> None:
    """``obj.name = value`` from Dana when the site's cache missed.

    Classes are refused (they are shared by the whole process); a struct field is validated and,
    when the value's type is the field's plain type, the site caches (class, type) so the next
    store of that shape is a plain attribute store.
    """
    if isinstance(obj, type):
        raise SandboxError(
            f"cannot set attributes of class {obj.__name__}: classes are read-only in Dana",
            error_type="SandboxError",
        )
    cls = type(obj)
    if cls is dict:
        # Dot access on a dict writes its key (obj.value = 6), unless that names a dict method.
        if name in _DICT_ATTRS:
            raise AttributeError(f"cannot set {name!r} on a dict: it names a dict method; use obj[{name!r}]")
        obj[name] = value
        return
    simple: dict[str, type] | None = getattr(cls, "__dana_simple__", None)
    if simple is None:
        # Only Dana's own struct instances have settable attributes: anything else is a host
        # object (a resource, a module member, a field spec) that Dana must not rewrite.
        raise SandboxError(
            f"cannot set {name!r} on a {cls.__name__}: only struct fields can be assigned in Dana",
            error_type="SandboxError",
        )
    if name not in cls.__dana_fields__:
        for field in cls.__dana_delegates__:
            # `car.horsepower = 200` through `engine: Engine = delegate`: the delegate's field.
            target = getattr(obj, field, None)
            if getattr(type(target), "__dana_simple__", None) is not None and hasattr(target, name):
                store_attribute(target, name, value, cache, site)
                return
        raise AttributeError(f"{cls.__name__} has no field {name!r}")
    value = cls.validate_field(name, value)
    object.__setattr__(obj, name, value)
    field_type = simple.get(name)
    if field_type is not None and type(value) is field_type:
        cache[f"_sc{site}"], cache[f"_st{site}"] = cls, field_type


_C_IMPORTS = frozenset(
    {
        "time",
        "_strptime",
        "re",
        "_sre",
        "locale",
        "calendar",
        "datetime",
        "_datetime",
        "unicodedata",
        "copyreg",
    }
)


def _c_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
    """The ``__import__`` C code finds in a Dana frame's builtins (``strftime`` imports ``time``,
    ``Match.expand`` imports ``re``): these stdlib modules only. Dana source can never name it."""
    if level == 0 and name in _C_IMPORTS:
        import importlib

        return importlib.import_module(name)
    raise ImportError(f"import of {name!r} is not available in the Dana sandbox")


_C_BUILTINS: dict[str, Any] = {"__import__": _c_import}


def find_dana_module(dotted: str, search_paths: tuple[Path, ...]) -> Path | None:
    """The .na file ``import dotted`` loads: the first ``a/b.na`` under a search path."""
    rel = Path(*dotted.split(".")).with_suffix(".na")
    for base in search_paths:
        candidate = base / rel
        if candidate.is_file():
            return candidate
    return None


def undefined_name(name: str) -> Any:
    """Raises the error for a name nothing defines (SandboxError for the refused Python builtins)."""
    if name in FORBIDDEN_NAMES:
        raise SandboxError(f"{name}() is not available in the Dana sandbox", error_type="SandboxError")
    raise DanaNameError(f"name {name!r} is not defined", error_type="NameError")


_TRUE_WORDS = frozenset({"true", "yes", "y", "on", "1"})
_FALSE_WORDS = frozenset({"false", "no", "n", "off", "0", ""})


def coerce(t: Any, value: Any) -> Any:
    """Dana's typed assignment (``n: int = 3.98``): ``value`` as a ``t``, or TypeError.

    int from a float truncates and from a string parses (``"5"``, ``" 7 "``); float from int or
    string; str from bool is ``"true"``/``"false"``, from None ``"none"``, else ``str()``; bool from
    a string by the table true/yes/y/on/1 and false/no/n/off/0/"" (any other string is an error),
    from a number by ``!= 0``. Containers, structs and unions go through pydantic's lax rules.
    """
    if t is None or type(value) is t:
        return value
    check_type(t, "the annotation")
    try:
        if t is int:
            if isinstance(value, bool | int):
                return int(value)
            if isinstance(value, float):
                return int(value)
            if isinstance(value, str):
                text = value.strip()
                try:
                    return int(text)
                except ValueError:
                    return int(float(text))
        elif t is float:
            if isinstance(value, bool | int | float | str):
                return float(value.strip() if isinstance(value, str) else value)
        elif t is str:
            if isinstance(value, bool):
                return "true" if value else "false"
            if value is None:
                return "none"
            return str(value)
        elif t is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low in _TRUE_WORDS:
                    return True
                if low in _FALSE_WORDS:
                    return False
            elif isinstance(value, int | float) or value is None:
                return bool(value)
        else:
            if isinstance(t, type) and isinstance(value, t) and not getattr(t, "_fields", None):
                return value
            from pydantic import TypeAdapter, ValidationError

            try:
                return TypeAdapter(t).validate_python(value)
            except ValidationError as err:
                first = err.errors()[0]
                raise TypeError(
                    f"cannot assign {_short_repr(value)} to a {_type_name(t)}: {first['msg']}"
                ) from None
    except (ValueError, OverflowError):
        pass
    raise TypeError(f"cannot assign {_short_repr(value)} to a {_type_name(t)}")


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(t: Any) -> str:
    return getattr(t, "__name__", None) or str(t)


def method_of(name: str, annotation: Callable[[], Any], fn: Callable[..., Any]) -> None:
    """Lets ``def f(c: Counter, ...)`` be called as ``c.f(...)``: only for a struct that has no
    field, receiver method or struct method of that name (those come first)."""
    try:
        t = annotation()
    except Exception:  # an annotation that names nothing yet (or not a type): no method
        return
    fields = getattr(t, "__dana_fields__", None)
    if not isinstance(t, type) or fields is None or name in fields or hasattr(t, name):
        return
    setattr(t, name, fn)


def _no_case(*values: Any) -> Any:
    """A pipeline's ``case(...)`` without a default when no condition held."""
    shown = ", ".join(_short_repr(v) for v in values) or "no value"
    raise ValueError(f"case(): no condition holds for {shown}, and there is no default")


def type_eq(a: Any, b: Any) -> bool:
    """``type(x) == "int"``: a type equals its own name as well as itself."""
    if isinstance(a, str) and isinstance(b, type):
        a, b = b, a
    if isinstance(a, type) and isinstance(b, str):
        return a.__name__ == b
    return bool(a == b)


def _push_desired(t: Any):
    return DESIRED_TYPE.set(check_type(t, "the annotation") if t is not None else None)


def _pop_desired(token) -> None:
    DESIRED_TYPE.reset(token)


class Runtime:
    """The run-time state of one top-level run: scopes, limits, output, imports."""

    def __init__(
        self,
        ctx: SandboxContext,
        *,
        filename: str,
        max_steps: int | None = None,
        timeout: float | None = None,
        search_paths: tuple[Path, ...] = (),
        module_executor: Callable[[Runtime, Path, str], Mapping[str, Any]] | None = None,
    ):
        self.ctx = ctx
        self._module_executor = module_executor
        """Runs an imported .na file with this runtime and returns its top-level names."""
        self.filename = filename
        self.output: list[str] = []
        self.logs: list[dict[str, Any]] = []
        self.max_steps = max_steps
        self.counts_steps = max_steps is not None or timeout is not None
        """Whether programs are compiled with checks at loop back-edges and calls."""
        self._steps_left = [max_steps if max_steps is not None else _UNLIMITED]
        self.expired = False
        self.search_paths = search_paths
        self.allowed_modules = ctx.policy.python_modules
        self.modules: dict[str, DanaModule] = {}
        self.python_modules: dict[str, Namespace] = {}
        self.log_levels: dict[str, int] = {}
        """This run's log thresholds (``log_level()``), never the process's loggers."""
        self._loading: set[str] = set()
        self._receivers: dict[str, Any] = {}
        self.struct_registry: dict[tuple[Any, ...], type] | None = None
        """A worker's canonical struct classes (codec.py decodes into the same ones); None in-process."""
        self._base = self._build_base()

    # ---- the globals a program runs in
    def _build_base(self) -> dict[str, Any]:
        ctx = self.ctx
        g: dict[str, Any] = dict(SAFE_BUILTINS)
        g.update(context_builtins(ctx, self.output, self.logs, self.log_levels))
        for fn in ctx.registry:
            func = (lambda f: lambda *a, **k: f(ctx, *a, **k))(fn.func) if fn.pass_context else fn.func
            g[fn.name] = host_call(func, fn.name)
        g.update(
            {
                "__builtins__": _C_BUILTINS,
                "__name__": "dana",
                "_modname": "__main__",
                "_P": ctx.private,
                "_U": ctx.public,
                "_S": ctx.system,
                "_SW": _SystemWriter(ctx),
                "_locals": locals,
                "_push_desired": _push_desired,
                "_coerce": coerce,
                "_type_eq": type_eq,
                "_method_of": method_of,
                "_pop_desired": _pop_desired,
                "_desired": DESIRED_TYPE.get,
                "_step": self._step,
                "_tick": self._tick,
                "_T": type,
                "_D": dict,
                "_dk": dict_attr,
                "_dattr": dotted_attr,
                "_import": self._import,
                "_from_import": self._from_import,
                "_struct": self._struct,
                "_agent_blueprint": self._agent_blueprint,
                "_agent": self._agent,
                "_resource": self._resource,
                "_interface": _make_interface,
                "_receiver": self._receiver,
                "_attr": _guarded_attr,
                "_mattr": _mapping_attr,
                "_NO_DEFAULT": NO_DEFAULT,
                "_undefined": undefined_name,
                "_no_case": _no_case,
                "_named": _named,
                "_kwcall": _kwcall,
            }
        )
        return g

    def program_globals(
        self, local: Mapping[str, Any], store_sites: int = 0, module_name: str = "__main__"
    ) -> dict[str, Any]:
        """The globals one program (or imported module, named ``module_name``) runs in."""
        g = dict(self._base)
        g["_L"] = local
        g["_modname"] = module_name
        g["_G"] = g
        for site in range(store_sites):
            g[f"_sc{site}"] = g[f"_st{site}"] = _Uncached

        def store_miss(site: int, obj: Any, name: str, value: Any) -> None:
            store_attribute(obj, name, value, g, site)

        g["_store_miss"] = store_miss

        def sync(names: dict[str, Any]) -> None:
            # The body's locals: its helpers' temporaries (`_v1`) stay behind, the user's names
            # (`_helper` as `dana·_helper`) come back in their own spelling.
            for k, v in names.items():
                if k[:1] != "_":
                    local[user_name(k)] = v

        g["_sync"] = sync
        return g

    def expression_globals(self, lookup: Callable[[str], Any]) -> dict[str, Any]:
        g = dict(self._base)
        g["_lk"] = lookup
        return g

    def builtin(self, name: str) -> Any:
        """A builtin or registered function by name; KeyError when there is none."""
        if name.startswith("_"):
            raise KeyError(name)
        return self._base[name]

    # ---- helpers called by generated code
    def _step(self) -> None:
        left = self._steps_left
        left[0] -= 1
        if left[0] < 0:
            if self.expired:
                raise TimeoutExpired()
            raise StepLimitExceeded()

    def expire(self) -> None:
        """Called by the timeout watchdog (another thread): the next step check raises.

        This is what stops a program that keeps running after the asynchronous interrupt, e.g. a
        ``finally:`` block that loops or calls a function that loops.
        """
        self.expired = True
        self._steps_left[0] = -1

    def _tick(self) -> bool:
        self._step()
        return True

    def _struct(
        self, name: str, fields: dict[str, tuple[Any, Any]], doc: str | None, delegates: tuple[str, ...] = ()
    ) -> type:
        from . import structs  # deferred: pydantic costs ~100 ms of start-up, and most programs need none

        return structs.make_struct(name, fields, doc, canonical=self.struct_registry, delegates=delegates)

    def _host_function(self, name: str) -> Callable[..., Any] | None:
        """A registered function by name, for agent methods (a program's own names never hide it)."""
        return self._base.get(name) if not name.startswith("_") else None

    def _agent_blueprint(
        self, name: str, fields: dict[str, tuple[Any, Any]], doc: str | None, delegates: tuple[str, ...] = ()
    ) -> type:
        from . import structs

        return structs.make_struct(
            name,
            fields,
            doc,
            canonical=self.struct_registry,
            base=structs.DanaAgent,
            extra={"__dana_host__": staticmethod(self._host_function)},
            delegates=delegates,
        )

    def _agent(
        self,
        name: str,
        blueprint: Any,
        fields: dict[str, tuple[Any, Any]],
        overrides: dict[str, Any],
        doc: str | None,
        delegates: tuple[str, ...] = (),
    ) -> Any:
        from . import structs

        return structs.make_agent(
            name,
            blueprint,
            fields,
            overrides,
            doc,
            host=self._host_function,
            canonical=self.struct_registry,
            delegates=delegates,
        )

    def _resource(
        self, name: str, fields: dict[str, tuple[Any, Any]], doc: str | None, delegates: tuple[str, ...] = ()
    ) -> type:
        from . import structs

        return structs.make_struct(
            name, fields, doc, canonical=self.struct_registry, base=structs.DanaResource, delegates=delegates
        )

    def _receiver(self, name: str, annotation: Any, fn: Callable[..., Any]) -> Any:
        from . import structs  # pydantic loads only for programs that use structs

        return structs.attach_receiver(self._receivers, name, annotation, fn)

    def _from_import(self, module: Any, name: str) -> Any:
        if isinstance(module, DanaModule):
            return module.member(name)
        if name.startswith("_"):
            raise SandboxError(
                f"cannot import {name!r} from {module!r}: a Python module's names starting with '_' "
                "are private",
                error_type="SandboxError",
            )
        try:
            return getattr(module, name)
        except AttributeError:
            raise ImportError(f"cannot import name {name!r} from {module!r}") from None

    def _find_dana_module(self, dotted: str) -> Path | None:
        return find_dana_module(dotted, self.search_paths)

    def _import(self, dotted: str, bind_top: bool) -> Any:
        path = self._find_dana_module(dotted)
        if path is not None:
            module = self._load_dana_module(dotted, path)
        elif dotted in self.allowed_modules:
            module = self.python_modules.get(dotted)
            if module is None:
                module = self.python_modules[dotted] = load_module(dotted, self.allowed_modules)
        else:
            allowed = ", ".join(sorted(self.allowed_modules))
            raise SandboxError(
                f"import of {dotted!r} is not allowed: no {dotted.replace('.', '/')}.na next to the program, "
                f"and Python modules are limited to: {allowed}",
                error_type="SandboxError",
            )
        if bind_top and "." in dotted:
            # `import a.b` binds `a`, whose attribute `b` is the module (Python's rule).
            parts = dotted.split(".")
            for name in reversed(parts[1:]):
                module = DanaModule(name, None, {name: module})
            return module
        return module

    def _load_dana_module(self, dotted: str, path: Path) -> DanaModule:
        key = str(path.resolve())
        if key in self.modules:
            return self.modules[key]
        if key in self._loading:
            raise ImportError(f"circular import of {dotted!r} ({path})")
        if self._module_executor is None:
            raise ImportError(f"cannot import {dotted!r}: this runtime has no module loader")
        self._loading.add(key)
        try:
            namespace = self._module_executor(self, path, dotted)
        finally:
            self._loading.discard(key)
        module = self.modules[key] = DanaModule(dotted, str(path), namespace)
        return module
