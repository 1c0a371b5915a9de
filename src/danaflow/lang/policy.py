"""SandboxPolicy: every rule of the Dana sandbox, in one value.

Untrusted Dana source and template text are held to these rules wherever they run: the compiler
reads the static ones (names, attributes), the runtime the dynamic ones (modules, models, limits),
and the worker process the containment ones (memory, CPU, wall clock, OS confinement). Widening a
rule is explicit (``policy.widen(allow_python_modules=["string"])``); nothing else reads a flag
from somewhere else. docs/security.md explains the threat model these rules serve.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

__all__ = [
    "ALLOWED_DUNDER_ATTRS",
    "BLOCKED_ATTRIBUTES",
    "CURATED_MODULES",
    "DEFAULT_POLICY",
    "FORBIDDEN_NAMES",
    "GUARDED_ATTRIBUTES",
    "READ_ONLY_NAMES",
    "RESERVED_STRUCT_NAMES",
    "Isolation",
    "SandboxPolicy",
    "attribute_refusal",
    "field_refusal",
    "identifier_refusal",
    "method_refusal",
    "scoped_refusal",
]

Isolation = Literal["process", "inprocess"]

FORBIDDEN_NAMES = frozenset(
    {
        "open",
        "eval",
        "exec",
        "compile",
        "getattr",
        "setattr",
        "delattr",
        "hasattr",
        "globals",
        "vars",
        "locals",
        "input",
        "breakpoint",
        "help",
        "exit",
        "quit",
        "memoryview",
        "object",
        "super",
        "classmethod",
        "staticmethod",
        "property",
        # Python's own machinery behind imports and classes: a Dana program's name of this
        # spelling is only ever its own variable, and reading one it never bound says why
        "__import__",
        "__builtins__",
        "__build_class__",
        "__loader__",
        "__spec__",
    }
)
"""Python builtins Dana refuses by name (escapes, side channels or class machinery)."""

ALLOWED_DUNDER_ATTRS = frozenset({"__name__", "__doc__"})
"""The only ``_``-prefixed attributes Dana may read (``type(x).__name__ == "int"``)."""

BLOCKED_ATTRIBUTES = frozenset(
    {
        # frames, code and generator internals
        "gi_frame",
        "gi_code",
        "gi_yieldfrom",
        "gi_running",
        "cr_frame",
        "cr_code",
        "cr_await",
        "ag_frame",
        "ag_code",
        "ag_await",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "f_code",
        "f_trace",
        "tb_frame",
        "tb_next",
        "co_code",
        "co_consts",
        "func_globals",
        "func_code",
        "mro",
        "im_func",
        "im_self",
        "im_class",
        # pydantic machinery of structs: files, pickles, unvalidated construction, schema rebuilds
        "parse_raw",
        "parse_file",
        "from_orm",
        "model_construct",
        "construct",
        "model_rebuild",
        "update_forward_refs",
        "model_post_init",
        "model_config",
        "model_computed_fields",
        "validate_field",
    }
)
"""Attributes refused at compile time whatever object they are read from."""

GUARDED_ATTRIBUTES = frozenset({"format", "format_map"})
"""Attributes whose value goes through the runtime: ``str.format`` would walk attributes freely."""

RESERVED_STRUCT_NAMES = frozenset(
    {"model_dump", "model_validate", "model_json_schema", "model_fields", "validate_field"}
)
"""Names a receiver method may not take: the host calls them on results after the program ended."""

# ---- the static name rules (resolve.py applies them to every name of a program)


READ_ONLY_NAMES = frozenset({"__name__"})
"""Identifiers a program reads but never binds: ``__name__`` is the running module's name."""


def identifier_refusal(name: str, store: bool) -> str | None:
    """Why Dana source may not read (or, with ``store``, bind) the identifier ``name``.

    Any spelling is a valid identifier, ``_helper`` and ``__all__`` included: the compiler renames
    ``_`` names (names.py), so they never meet the runtime's helpers or Python's dunders. The
    sandbox's safety lies in attributes (``attribute_refusal``), not in identifiers."""
    if store and name in READ_ONLY_NAMES:
        return f"cannot assign to {name}: it is the running module's name, read-only"
    return None


def attribute_refusal(attr: str, store: bool) -> str | None:
    """Why ``x.attr`` may not be read (or, with ``store``, written), whatever ``x`` is. This is
    where the sandbox's safety lies: Python's escapes all go through attributes."""
    if attr.startswith("_"):
        if attr in ALLOWED_DUNDER_ATTRS and not store:
            return None
        return f"attribute {attr!r} is not allowed: attributes starting with '_' are private"
    if attr in BLOCKED_ATTRIBUTES:
        return f"attribute {attr!r} is not allowed in the sandbox"
    return None


def scoped_refusal(scope: str, name: str, store: bool) -> str | None:
    """Why ``scope:name`` may not be read or written. ``local:x`` is the identifier ``x``; ``_``
    keys of the shared scopes belong to the host and the runtime (``system:__x``, the runtime's
    values, is readable, never writable)."""
    if scope == "local":
        return identifier_refusal(name, store)
    if not name.startswith("_"):
        return None
    if not store and scope == "system" and name.startswith("__"):
        return None
    return f"{scope}:{name} is not allowed: names starting with '_' are reserved"


def method_refusal(name: str) -> str | None:
    """Why a receiver method may not be named ``name``: it becomes an attribute of its struct's
    class, where ``__str__``, ``__eq__`` or ``__del__`` would be hooks the host runs."""
    if name.startswith("_"):
        return (
            f"receiver method {name!r} is not allowed: a receiver method is an attribute of its "
            "struct, and names starting with '_' are private (Python calls some of them itself)"
        )
    return None


def field_refusal(name: str, what: str) -> str | None:
    """Why a struct, agent or resource may not declare the field ``name``: a ``_`` attribute is
    one Dana code could never read (the reference's ``_engine`` delegation is ``= delegate``)."""
    if name.startswith("_") and what == "interface":
        return (
            f"field {name!r} is not allowed: names starting with '_' are reserved (a field is an "
            "attribute, and Dana code cannot read '_' attributes)"
        )
    if name.startswith("_"):
        return (
            f"field {name!r} is not allowed: names starting with '_' are reserved (Dana code "
            f"could not read it); to reach its fields and methods through the {what}, write "
            f"{name.lstrip('_') or 'part'}: T = delegate"
        )
    return None


CURATED_MODULES: dict[str, tuple[str, ...]] = {
    "math": [
        "acos",
        "acosh",
        "asin",
        "asinh",
        "atan",
        "atan2",
        "atanh",
        "cbrt",
        "ceil",
        "comb",
        "copysign",
        "cos",
        "cosh",
        "degrees",
        "dist",
        "e",
        "erf",
        "erfc",
        "exp",
        "exp2",
        "expm1",
        "fabs",
        "factorial",
        "floor",
        "fmod",
        "frexp",
        "fsum",
        "gamma",
        "gcd",
        "hypot",
        "inf",
        "isclose",
        "isfinite",
        "isinf",
        "isnan",
        "isqrt",
        "lcm",
        "ldexp",
        "lgamma",
        "log",
        "log10",
        "log1p",
        "log2",
        "modf",
        "nan",
        "nextafter",
        "perm",
        "pi",
        "pow",
        "prod",
        "radians",
        "remainder",
        "sin",
        "sinh",
        "sqrt",
        "tan",
        "tanh",
        "tau",
        "trunc",
        "ulp",
    ],
    "json": ("dumps", "loads", "JSONDecodeError"),
    "re": [
        "compile",
        "search",
        "match",
        "fullmatch",
        "split",
        "findall",
        "finditer",
        "sub",
        "subn",
        "escape",
        "error",
        "A",
        "ASCII",
        "I",
        "IGNORECASE",
        "M",
        "MULTILINE",
        "S",
        "DOTALL",
        "X",
        "VERBOSE",
        "U",
        "UNICODE",
    ],
    "datetime": ("date", "time", "datetime", "timedelta", "timezone", "MINYEAR", "MAXYEAR"),
    "random": [
        "random",
        "uniform",
        "randint",
        "randrange",
        "choice",
        "choices",
        "sample",
        "shuffle",
        "seed",
        "gauss",
        "normalvariate",
        "triangular",
        "betavariate",
        "expovariate",
        "getrandbits",
    ],
    "statistics": [
        "mean",
        "fmean",
        "geometric_mean",
        "harmonic_mean",
        "median",
        "median_low",
        "median_high",
        "median_grouped",
        "mode",
        "multimode",
        "quantiles",
        "pstdev",
        "pvariance",
        "stdev",
        "variance",
        "correlation",
        "covariance",
        "linear_regression",
        "NormalDist",
        "StatisticsError",
    ],
    "itertools": [
        "accumulate",
        "chain",
        "combinations",
        "combinations_with_replacement",
        "compress",
        "count",
        "cycle",
        "dropwhile",
        "filterfalse",
        "groupby",
        "islice",
        "pairwise",
        "permutations",
        "product",
        "repeat",
        "starmap",
        "takewhile",
        "tee",
        "zip_longest",
    ],
    "functools": ("reduce", "partial", "lru_cache", "cache", "cmp_to_key"),
    "collections": ("Counter", "OrderedDict", "defaultdict", "deque", "namedtuple", "ChainMap"),
}
"""The Python modules Dana may import by default, each as a namespace of exactly these members.

Left out on purpose: ``collections.UserString`` (its ``format`` is the real ``str.format``),
``functools.wraps``/``update_wrapper``/``total_ordering`` (they set attributes on other objects),
``json.JSONEncoder`` and every module-valued attribute (``json.codecs``, ``re.enum``).
"""


@dataclass(frozen=True)
class SandboxPolicy:
    """The rules one run of untrusted Dana is held to.

    ``isolation="process"`` (the default) runs the program in a worker process with the limits
    below; ``"inprocess"`` runs it in the calling thread, for trusted code only: the language-level
    rules still hold there, but C-level work (``sum(range(10**12))``) cannot be stopped.
    """

    isolation: Isolation = "process"
    memory_limit: int | None = 1 << 30
    """Bytes of address space a worker may map (``RLIMIT_AS``); None for no cap."""
    cpu_limit: float | None = 300.0
    """CPU seconds a worker may burn (``RLIMIT_CPU``); time waiting for the host does not count."""
    timeout: float | None = 3600.0
    """Wall-clock seconds for the whole program in a worker, host calls included (a program that
    calls reason() forever uses no CPU of its own); None for no limit. In-process runs use only
    the ``timeout=`` given to ``run()``."""
    max_steps: int | None = None
    """Loop iterations plus function calls; None for no budget."""
    allow_python_modules: frozenset[str] = frozenset()
    """Python modules beyond CURATED_MODULES that ``import`` may load whole (an explicit widening)."""
    allow_model_specs: bool = False
    """Whether ``reason(model=...)`` may name a provider spec or URL instead of a host alias."""
    os_confinement: bool = True
    """Confine workers with Landlock (files, TCP, signals) and seccomp (exec, sockets) where available."""
    max_message_chars: int = 4_000
    """Error messages longer than this are cut (the rest is counted, never printed)."""
    max_exchange_bytes: int = 256 << 20
    """The largest value or scope delta a worker may send back."""
    max_output_bytes: int = 16 << 20
    """What a worker may print, in all (a program printing forever must not fill the host's memory)."""
    max_log_records: int = 100_000
    """How many ``log()`` records a worker may send."""
    template_steps: int = 100_000
    """The step budget of one ``$expr{}`` evaluation."""
    template_timeout: float = 10.0
    """The wall-clock budget of one ``$expr{}`` evaluation that runs in a worker."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    """Room for embedding programs' own settings; the sandbox never reads it."""

    def __post_init__(self) -> None:
        if self.isolation not in ("process", "inprocess"):
            raise ValueError(f"isolation {self.isolation!r}: want 'process' or 'inprocess'")
        object.__setattr__(self, "allow_python_modules", frozenset(self.allow_python_modules))
        for name in ("memory_limit", "cpu_limit", "timeout", "max_steps"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive or None, got {value!r}")

    def widen(self, **changes: Any) -> SandboxPolicy:
        """A copy with ``changes``; the one way to loosen a rule."""
        if "allow_python_modules" in changes:
            changes["allow_python_modules"] = self.allow_python_modules | frozenset(
                changes["allow_python_modules"]
            )
        return replace(self, **changes)

    @property
    def python_modules(self) -> frozenset[str]:
        """Every module name ``import`` may load."""
        return frozenset(CURATED_MODULES) | self.allow_python_modules


DEFAULT_POLICY = SandboxPolicy()
