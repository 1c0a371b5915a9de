"""SandboxContext: scoped get/set from Python, initial states, child contexts, and programs run
against a context whose results are read back (the examples of seeds 002 and 003)."""

from __future__ import annotations

from typing import Any

import pytest

from danaflow.errors import DanaflowError, DanaNameError
from danaflow.lang.api import run
from danaflow.lang.sandbox import SandboxContext


def _quiet(_text: str) -> None:
    pass


# ---- get / set ---------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["local", "private", "public", "system"])
def test_set_and_get_with_colon_and_dot(scope: str) -> None:
    ctx = SandboxContext()
    ctx.set(f"{scope}:x", 1)
    assert ctx.get(f"{scope}:x") == 1
    assert ctx.get(f"{scope}.x") == 1
    ctx.set(f"{scope}.y", "two")
    assert ctx.get(f"{scope}:y") == "two"
    assert getattr(ctx, scope) == {"x": 1, "y": "two"}


def test_bare_names_are_local() -> None:
    ctx = SandboxContext()
    ctx.set("counter", 3)
    assert ctx.local["counter"] == 3
    assert ctx.get("local:counter") == 3
    assert ctx.get("counter") == 3
    assert "counter" not in ctx.private


def test_unknown_scope_is_an_error() -> None:
    ctx = SandboxContext()
    with pytest.raises(DanaflowError, match="galaxy"):
        ctx.set("galaxy:x", 1)
    with pytest.raises(DanaflowError, match="galaxy"):
        ctx.get("galaxy:x")


def test_empty_name_is_an_error() -> None:
    with pytest.raises(DanaflowError):
        SandboxContext().set("private:", 1)


def test_missing_variable_is_a_name_error_not_none() -> None:
    ctx = SandboxContext()
    with pytest.raises(DanaNameError, match="private:nope"):
        ctx.get("private:nope")
    with pytest.raises(NameError):
        ctx.get("public.nope")
    assert ctx.get("private:nope", None) is None
    assert ctx.get("private:nope", 5) == 5


def test_scope_dict_missing_key_is_a_name_error() -> None:
    ctx = SandboxContext()
    with pytest.raises(NameError, match="system:absent"):
        ctx.system["absent"]


def test_has_and_delete() -> None:
    ctx = SandboxContext(initial_public_state={"a": 1})
    assert ctx.has("public:a") and ctx.has("public.a")
    ctx.delete("public:a")
    assert not ctx.has("public:a")
    ctx.delete("public:a")  # deleting what is not there is fine


def test_values_are_stored_as_is() -> None:
    ctx = SandboxContext()
    payload = {"nested": [1, 2]}
    ctx.set("private:payload", payload)
    assert ctx.get("private:payload") is payload


# ---- initial states, snapshot, child -----------------------------------------------------------


def test_initial_states_fill_the_scopes() -> None:
    ctx = SandboxContext(
        initial_private_state={"name": "analyst_agent", "objective": "Process data"},
        initial_public_state={"data_source_url": "http://example.com/data"},
        initial_local_state={"tmp": 1},
        initial_system_state={"dana_version": "0.1"},
    )
    assert ctx.get("private:name") == "analyst_agent"
    assert ctx.get("public.data_source_url") == "http://example.com/data"
    assert ctx.get("tmp") == 1
    assert ctx.get("system:dana_version") == "0.1"
    snap = ctx.snapshot()
    assert snap["private"] == {"name": "analyst_agent", "objective": "Process data"}
    assert set(snap) == {"local", "private", "public", "system"}


def test_initial_state_is_copied() -> None:
    initial = {"n": 1}
    ctx = SandboxContext(initial_private_state=initial)
    ctx.set("private:n", 2)
    assert initial == {"n": 1}


def test_snapshot_is_a_copy() -> None:
    ctx = SandboxContext(initial_public_state={"a": 1})
    snap = ctx.snapshot()
    ctx.set("public:a", 2)
    assert snap["public"] == {"a": 1}


def test_child_shares_public_system_and_private_but_not_local() -> None:
    parent = SandboxContext(initial_private_state={"p": 1}, initial_local_state={"l": 1})
    child = parent.child()
    child.set("public:shared", "yes")
    child.set("system:flag", True)
    child.set("private:p", 2)
    child.set("local:l", 99)
    assert parent.get("public:shared") == "yes"
    assert parent.get("system:flag") is True
    assert parent.get("private:p") == 2
    assert parent.get("local:l") == 1
    assert child.registry is parent.registry


def test_child_with_its_own_private_scope() -> None:
    parent = SandboxContext(initial_private_state={"who": "parent"})
    child = parent.child(private={"who": "child"}, local={"x": 1})
    assert child.get("private:who") == "child"
    assert parent.get("private:who") == "parent"
    assert child.get("x") == 1
    child.set("public:seen", 1)
    assert parent.get("public:seen") == 1


# ---- running programs against a context ------------------------------------------------------


def test_program_reads_initial_state_and_writes_results_back() -> None:
    # Seed 002, section 3: a context created in Python, a program that reads and writes it.
    ctx = SandboxContext(
        initial_private_state={"name": "analyst_agent", "objective": "Process data"},
        initial_public_state={"data_source_url": "http://example.com/data"},
        initial_local_state={},
    )
    program = (
        'log(f"Processing data for agent: {private:name}")\n'
        'log(f"Data source: {public:data_source_url}")\n'
        "local:results = []\n"
        'private:status = "processing"\n'
        'print(f"{private:name} reads {public:data_source_url}")\n'
    )
    outcome = run(program, ctx, print_sink=_quiet)
    assert outcome.error is None, outcome.error
    assert outcome.ok
    assert outcome.context is ctx
    assert outcome.output == "analyst_agent reads http://example.com/data\n"
    assert ctx.get("private:status") == "processing"
    assert ctx.get("local:results") == []


def test_seed_002_local_and_private_scopes() -> None:
    # Seed 002, sections 2.1 and 2.2, with analyze_item registered from Python.
    ctx = SandboxContext(initial_public_state={"input_data": [1, 2, 3]})
    ctx.registry.register("analyze_item", lambda item: item * 10)
    program = (
        "local:data = public:input_data\n"
        "local:processed_items = []\n"
        "for item in local:data:\n"
        "    local:current_item = item\n"
        "    local:analysis_result = analyze_item(local:current_item)\n"
        "    local:processed_items.append(local:analysis_result)\n"
        "private:final_results = local:processed_items\n"
        'private:current_step = "data_collection"\n'
        "private:items_processed_count = 100\n"
        "private:total_items_to_process = 100\n"
        "if private:items_processed_count >= private:total_items_to_process:\n"
        '    private:current_step = "task_complete"\n'
    )
    outcome = run(program, ctx, print_sink=_quiet)
    assert outcome.error is None, outcome.error
    assert ctx.get("private:final_results") == [10, 20, 30]
    assert ctx.get("private:current_step") == "task_complete"
    assert ctx.get("local:current_item") == 3


class ScriptedReasoner:
    """A code-configured reasoner: answers from a script and records what it was asked."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, Any, dict[str, Any]]] = []

    def reason(self, prompt: str, desired_type: Any = None, **options: Any) -> Any:
        self.calls.append((prompt, desired_type, options))
        for needle, answer in self.answers.items():
            if needle in prompt:
                return answer
        return "unknown"


def test_seed_003_execution_model_program() -> None:
    # Seed 003, section 4, verbatim apart from the one-space indentation, against a reasoner
    # configured in code.
    dana_program = """
# private: and public: scopes are assumed to be pre-populated in the context
log(f"Agent {private:agent_id} starting task.")

local:items_to_process = public:input_list
local:processed_results = []

for item in local:items_to_process:
 local:analysis_result = reason(f"Analyze this item: {item}", __dana_desired_type=str)
 local:processed_results.append(local:analysis_result)

private:summary = reason(f"Summarize these analyses: {local:processed_results}", __dana_desired_type=str)
log(f"Task complete. Summary: {private:summary}")
private:status = "complete"
"""
    reasoner = ScriptedReasoner(
        {
            "data_point_A": "A looks fine",
            "data_point_B": "B is odd",
            "data_point_C": "C is missing",
            "Summarize": "one of three is missing",
        }
    )
    initial_agent_state = {"agent_id": "analyzer_01", "status": "idle"}
    initial_world_state = {"input_list": ["data_point_A", "data_point_B", "data_point_C"]}
    context = SandboxContext(
        initial_private_state=initial_agent_state,
        initial_public_state=initial_world_state,
        reasoner=reasoner,
    )
    execution_outcome = run(dana_program, context, print_sink=_quiet)
    assert execution_outcome.error is None, execution_outcome.error
    assert execution_outcome.output == ""  # log() is not print()
    assert context.get("private:status") == "complete"
    assert context.get("private:summary") == "one of three is missing"
    assert context.get("local:processed_results") == ["A looks fine", "B is odd", "C is missing"]
    assert [p for p, _, _ in reasoner.calls] == [
        "Analyze this item: data_point_A",
        "Analyze this item: data_point_B",
        "Analyze this item: data_point_C",
        "Summarize these analyses: ['A looks fine', 'B is odd', 'C is missing']",
    ]
    assert all(t is str for _, t, _ in reasoner.calls)
    assert initial_agent_state["status"] == "idle"


def test_unscoped_writes_land_in_local() -> None:
    ctx = SandboxContext()
    outcome = run("x = 1\nlocal:y = x + 1\nprivate:z = y + 1\n", ctx, print_sink=_quiet)
    assert outcome.error is None, outcome.error
    assert ctx.get("local:x") == 1
    assert ctx.get("y") == 2
    assert ctx.get("private:z") == 3
    assert "x" not in ctx.private and "x" not in ctx.public and "x" not in ctx.system


def test_function_locals_do_not_reach_the_context() -> None:
    ctx = SandboxContext()
    program = "def f():\n    inner = 5\n    private:out = inner\n    return inner\nresult = f()\n"
    outcome = run(program, ctx, print_sink=_quiet)
    assert outcome.error is None, outcome.error
    assert ctx.get("local:result") == 5
    assert ctx.get("private:out") == 5
    assert "inner" not in ctx.local


def test_state_persists_across_runs_on_one_context() -> None:
    ctx = SandboxContext(initial_private_state={"runs": 0})
    for _ in range(3):
        outcome = run("private:runs += 1\n", ctx, print_sink=_quiet)
        assert outcome.error is None, outcome.error
    assert ctx.get("private:runs") == 3


def test_values_set_from_python_are_read_by_dana() -> None:
    ctx = SandboxContext()
    ctx.set("public:threshold", 10)
    ctx.set("system.mode", "strict")
    ctx.set("n", 4)
    outcome = run("print(public:threshold + n, system:mode, local:n)\n", ctx, print_sink=_quiet)
    assert outcome.error is None, outcome.error
    assert outcome.output == "14 strict 4\n"


def test_unscoped_read_falls_back_through_private_public_system() -> None:
    ctx = SandboxContext(
        initial_private_state={"a": "private"},
        initial_public_state={"a": "public", "b": "public"},
        initial_system_state={"a": "system", "b": "system", "c": "system"},
    )
    outcome = run("print(a, b, c)\n", ctx, print_sink=_quiet)
    assert outcome.error is None, outcome.error
    assert outcome.output == "private public system\n"


def test_child_context_program_shares_public_state() -> None:
    parent = SandboxContext(initial_private_state={"agent": "a1"})
    child = parent.child()
    outcome = run('public:note = f"from {private:agent}"\nlocal:tmp = 1\n', child, print_sink=_quiet)
    assert outcome.error is None, outcome.error
    assert parent.get("public:note") == "from a1"
    assert not parent.has("local:tmp")


def test_registered_functions_are_callable_and_can_receive_the_context() -> None:
    ctx = SandboxContext(initial_private_state={"name": "agent-7"})
    ctx.registry.register("double", lambda x: x * 2)
    ctx.registry.register("whoami", lambda c: c.get("private:name"), pass_context=True)
    outcome = run("print(double(21), whoami())\n", ctx, print_sink=_quiet)
    assert outcome.error is None, outcome.error
    assert outcome.output == "42 agent-7\n"


def test_registered_functions_win_over_unscoped_state() -> None:
    # docs/language.md: builtins and registered functions come before the unscoped fallback to
    # state; the scoped name still reads the state.
    ctx = SandboxContext(initial_private_state={"helper": "private value"})
    ctx.registry.register("helper", lambda: "python")
    outcome = run("print(helper(), private:helper)\n", ctx, print_sink=_quiet)
    assert outcome.error is None, outcome.error
    assert outcome.output == "python private value\n"


def test_program_definitions_win_over_registered_functions() -> None:
    ctx = SandboxContext()
    ctx.registry.register("helper", lambda: "python")
    outcome = run('def helper():\n    return "dana"\nprint(helper())\n', ctx, print_sink=_quiet)
    assert outcome.error is None, outcome.error
    assert outcome.output == "dana\n"


def test_undefined_name_error_has_location_and_state_before_it_is_kept() -> None:
    ctx = SandboxContext()
    outcome = run("private:before = 1\nx = missing_name\nprivate:after = 2\n", ctx, print_sink=_quiet)
    assert isinstance(outcome.error, DanaNameError)
    assert outcome.error.error_type == "NameError"
    assert "missing_name" in outcome.error.message
    assert outcome.error.location is not None
    assert (outcome.error.location.line, outcome.error.location.col) == (2, 5)
    assert not outcome.ok
    assert ctx.get("private:before") == 1
    assert not ctx.has("private:after")


def test_same_source_on_two_contexts_is_independent() -> None:
    # Code objects are cached by source hash; the state must still belong to each context.
    program = "private:seen = private:seen + [public:tag]\ncount = len(private:seen)\n"
    first = SandboxContext(initial_private_state={"seen": []}, initial_public_state={"tag": "a"})
    second = SandboxContext(initial_private_state={"seen": ["x"]}, initial_public_state={"tag": "b"})
    for ctx in (first, second, first):
        outcome = run(program, ctx, print_sink=_quiet)
        assert outcome.error is None, outcome.error
    assert first.get("private:seen") == ["a", "a"]
    assert second.get("private:seen") == ["x", "b"]
    assert (first.get("count"), second.get("count")) == (2, 2)


def test_top_level_return_gives_the_outcome_value() -> None:
    # Seed 003: a return in the main program body ends it; its value is the outcome's value.
    ctx = SandboxContext(initial_public_state={"items": [1, 2, 3]})
    outcome = run("total = sum(public:items)\nreturn total * 2\nprivate:never = 1\n", ctx, print_sink=_quiet)
    assert outcome.error is None, outcome.error
    assert outcome.value == 12
    assert not ctx.has("private:never")


def test_context_default_is_created_when_none_given() -> None:
    outcome = run("private:x = 5\n", print_sink=_quiet)
    assert outcome.error is None, outcome.error
    assert isinstance(outcome.context, SandboxContext)
    assert outcome.context.get("private:x") == 5
