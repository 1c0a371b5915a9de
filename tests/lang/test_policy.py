"""SandboxPolicy: its defaults, its validation, ``widen()`` as the one way to loosen a rule, and
the policy reaching a run (allowed modules, model specs) through a SandboxContext."""

from __future__ import annotations

import dataclasses
import importlib
import random

import pytest

from danaflow.errors import SandboxError
from danaflow.lang.api import run
from danaflow.lang.policy import (
    CURATED_MODULES,
    DEFAULT_POLICY,
    FORBIDDEN_NAMES,
    RESERVED_STRUCT_NAMES,
    SandboxPolicy,
)
from danaflow.lang.sandbox import SandboxContext

# ---- defaults and validation -----------------------------------------------------------------


def test_the_default_policy_isolates_and_bounds() -> None:
    p = DEFAULT_POLICY
    assert p.isolation == "process"
    assert p.memory_limit == 1 << 30
    assert p.cpu_limit == 300.0
    assert p.timeout == 3600.0 and p.max_steps is None  # a wall clock even for reason() loops
    assert p.allow_python_modules == frozenset()
    assert p.allow_model_specs is False
    assert p.os_confinement is True
    assert p.python_modules == frozenset(CURATED_MODULES)


@pytest.mark.parametrize("isolation", ["thread", "", "PROCESS", None])
def test_an_unknown_isolation_is_refused(isolation: object) -> None:
    with pytest.raises(ValueError, match="want 'process' or 'inprocess'"):
        SandboxPolicy(isolation=isolation)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["memory_limit", "cpu_limit", "timeout", "max_steps"])
@pytest.mark.parametrize("value", [0, -1, -0.5])
def test_limits_must_be_positive(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=rf"{name} must be positive or None, got {value!r}"):
        SandboxPolicy(**{name: value})


@pytest.mark.parametrize("name", ["memory_limit", "cpu_limit", "timeout", "max_steps"])
def test_none_means_no_limit(name: str) -> None:
    assert getattr(SandboxPolicy(**{name: None}), name) is None


def test_allowed_modules_become_a_frozenset() -> None:
    p = SandboxPolicy(allow_python_modules=["string", "textwrap", "string"])  # type: ignore[arg-type]
    assert p.allow_python_modules == frozenset({"string", "textwrap"})
    assert isinstance(p.allow_python_modules, frozenset)
    assert p.python_modules == frozenset(CURATED_MODULES) | {"string", "textwrap"}


def test_a_policy_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_POLICY.timeout = 1.0  # type: ignore[misc]


def test_extra_is_not_part_of_equality() -> None:
    assert SandboxPolicy(extra={"team": "a"}) == SandboxPolicy(extra={"team": "b"})
    assert SandboxPolicy(timeout=1.0) != SandboxPolicy(timeout=2.0)


# ---- widen ---------------------------------------------------------------------------------


def test_widen_returns_a_copy_and_leaves_the_original() -> None:
    base = SandboxPolicy(timeout=5.0)
    wider = base.widen(timeout=60.0, allow_model_specs=True)
    assert wider is not base
    assert (wider.timeout, wider.allow_model_specs) == (60.0, True)
    assert (base.timeout, base.allow_model_specs) == (5.0, False)
    assert wider.memory_limit == base.memory_limit


def test_widen_adds_modules_to_those_already_allowed() -> None:
    base = SandboxPolicy(allow_python_modules=frozenset({"string"}))
    wider = base.widen(allow_python_modules=["textwrap"])
    assert wider.allow_python_modules == frozenset({"string", "textwrap"})
    assert base.allow_python_modules == frozenset({"string"})


def test_widen_validates_like_the_constructor() -> None:
    with pytest.raises(ValueError, match="timeout must be positive"):
        DEFAULT_POLICY.widen(timeout=0)
    with pytest.raises(ValueError, match="isolation"):
        DEFAULT_POLICY.widen(isolation="threads")
    with pytest.raises(TypeError):
        DEFAULT_POLICY.widen(no_such_rule=True)


def test_a_context_widens_its_policy_for_allowed_modules() -> None:
    policy = SandboxPolicy(timeout=3.0)
    ctx = SandboxContext(policy=policy, allow_python_modules=["string"])
    assert ctx.policy.allow_python_modules == frozenset({"string"})
    assert ctx.policy.timeout == 3.0
    assert ctx.allow_python_modules == frozenset({"string"})
    assert policy.allow_python_modules == frozenset()


# ---- the tables ------------------------------------------------------------------------------


@pytest.mark.parametrize("module", sorted(CURATED_MODULES))
def test_every_curated_member_exists_in_its_module(module: str) -> None:
    real = random.Random() if module == "random" else importlib.import_module(module)
    missing = [m for m in CURATED_MODULES[module] if not hasattr(real, m)]
    assert missing == []


def test_the_name_tables_hold_the_escape_hatches() -> None:
    assert {"eval", "exec", "open", "getattr", "compile", "globals"} <= FORBIDDEN_NAMES
    assert {"model_dump", "model_validate"} <= RESERVED_STRUCT_NAMES
    assert "UserString" not in CURATED_MODULES["collections"]
    assert "JSONEncoder" not in CURATED_MODULES["json"]


# ---- the policy in a run ---------------------------------------------------------------------


@pytest.mark.parametrize("isolation", ["process", "inprocess"])
def test_a_module_outside_the_policy_is_refused_until_widened(isolation: str) -> None:
    src = 'import string\nstring.capwords("ann lee")\n'
    refused = run(src, SandboxContext(), isolation=isolation)
    assert isinstance(refused.error, SandboxError)
    assert refused.error.location is not None and refused.error.location.line == 1
    assert "string" in refused.error.message

    allowed = run(src, SandboxContext(allow_python_modules=["string"]), isolation=isolation)
    assert allowed.error is None
    assert allowed.value == "Ann Lee"


class _Models:
    def __init__(self) -> None:
        self.models: list[object] = []

    def reason(self, prompt: str, desired_type: object = None, **options: object) -> str:
        self.models.append(options.get("model"))
        return "ok"

    def model_aliases(self) -> tuple[str, ...]:
        return ("fast",)


@pytest.mark.parametrize("isolation", ["process", "inprocess"])
def test_model_specs_need_allow_model_specs(isolation: str) -> None:
    src = 'reason("hi", model="openai:gpt-4o")\n'
    models = _Models()
    refused = run(src, SandboxContext(reasoner=models), isolation=isolation)
    assert isinstance(refused.error, SandboxError)
    assert "want one of: fast" in refused.error.message
    assert models.models == []

    policy = SandboxPolicy(allow_model_specs=True)
    allowed = run(src, SandboxContext(reasoner=models, policy=policy), isolation=isolation)
    assert allowed.error is None and allowed.value == "ok"
    assert models.models == ["openai:gpt-4o"]
