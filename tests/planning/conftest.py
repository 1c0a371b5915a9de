"""Fixtures for the planning tests: contexts whose LLMs talk HTTP to the fake server."""

from __future__ import annotations

import json

import pytest

from danaflow.context import AgentState, ExecutionContext, ExecutionState, WorldState


def _cot(answer, reasoning="First I look at the data, then I conclude.") -> str:
    return json.dumps({"reasoning": reasoning, "answer": answer})


@pytest.fixture
def cot():
    """Makes a chain-of-thought answer as the model would send it: ``cot(answer, reasoning=...)``."""
    return _cot


@pytest.fixture
def llm(fake_llm):
    """An LLMResource on the fake server."""
    return fake_llm.resource(name="reasoning")


@pytest.fixture
def ctx(llm):
    """A seed-000 style ExecutionContext on the fake server; closed after the test."""
    context = ExecutionContext(
        planning_llm=llm,
        reasoning_llm=llm,
        agent_state=AgentState(),
        world_state=WorldState(),
        execution_state=ExecutionState(),
        global_context={"version": "1.0"},
    )
    with context:
        yield context
