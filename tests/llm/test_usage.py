"""Usage: the one token-count type, shared by providers, LLMResource and node results."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

import danaflow.context.result as result_module
import danaflow.llm as llm_layer
from danaflow.llm.provider import LLMResponse
from danaflow.llm.usage import Usage


def test_one_type_under_every_name() -> None:
    assert llm_layer.Usage is Usage
    assert result_module.Usage is Usage
    assert LLMResponse("x").usage == Usage()


def test_counts_by_position_or_by_name_are_the_same_usage() -> None:
    assert Usage(12, 3) == Usage(prompt_tokens=12, completion_tokens=3)
    assert Usage(7) == Usage(prompt_tokens=7, completion_tokens=0)
    assert hash(Usage(12, 3)) == hash(Usage(prompt_tokens=12, completion_tokens=3))
    assert Usage(12, 3).total_tokens == 15


def test_a_count_given_twice_or_a_third_count_is_refused() -> None:
    with pytest.raises(TypeError, match="both by position and by name"):
        Usage(1, prompt_tokens=2)
    with pytest.raises(TypeError, match="at most 2 positional counts"):
        Usage(1, 2, 3)


def test_sums_make_a_new_usage_and_leave_both_operands_as_they_were() -> None:
    a, b = Usage(5, 1), Usage(prompt_tokens=2, completion_tokens=4)
    total = a + b
    assert (total.prompt_tokens, total.completion_tokens, total.total_tokens) == (7, 5, 12)
    assert (a, b) == (Usage(5, 1), Usage(2, 4))
    assert sum([a, b], Usage()) == total
    with pytest.raises(TypeError):
        a + 3


def test_a_usage_cannot_be_changed_in_place() -> None:
    shared = Usage(3, 3)
    with pytest.raises(ValidationError):
        shared.prompt_tokens = 10  # type: ignore[misc]
    assert shared.prompt_tokens == 3


def test_the_json_form_is_the_two_counts_and_reads_back() -> None:
    usage = Usage(9, 4)
    assert usage.model_dump(mode="json") == {"prompt_tokens": 9, "completion_tokens": 4}
    assert Usage.model_validate_json(usage.model_dump_json()) == usage
    assert Usage.model_validate({}) == Usage()


def test_importing_the_type_loads_none_of_the_resource_machinery() -> None:
    code = (
        "import sys, danaflow.context.result, danaflow.llm.default\n"
        "print(sorted(m for m in ('danaflow.llm.resource', 'danaflow.llm.typed', 'danaflow.llm.tools',"
        " 'danaflow.llm.config', 'openai', 'anthropic', 'torch') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"
