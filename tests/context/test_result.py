"""NodeExecutionResult's usage: the LLM layer's Usage, and results stored before the merge load."""

from __future__ import annotations

import json

from danaflow.context.result import NodeExecutionResult, Usage
from danaflow.context.status import ExecutionStatusEnum
from danaflow.llm.usage import Usage as LLMUsage

# A result.json as the runs layer wrote it before the two Usage types were one (its usage block
# came from context/result.py's own pydantic Usage).
STORED = """{
  "component_id": "ask", "path": "f.ask", "executable_type": "node", "node_type": "ai_model",
  "execution_status": "completed", "input": {"prompt": "hi"}, "output": {"text": "hello"},
  "outcome": {"text": "hello", "structured": null, "model": "openai:fake"}, "error": null,
  "usage": {"prompt_tokens": 11, "completion_tokens": 2},
  "started_at": "2025-01-02T03:04:05.000001", "finished_at": "2025-01-02T03:04:06.500001",
  "reused": false, "cached": false, "cached_from": null
}"""


def test_a_result_stored_before_the_merge_loads_with_its_usage() -> None:
    result = NodeExecutionResult.model_validate(json.loads(STORED))
    assert result.execution_status is ExecutionStatusEnum.completed
    assert isinstance(result.usage, LLMUsage)
    assert result.usage == Usage(11, 2) and result.usage.total_tokens == 13


def test_the_stored_usage_block_keeps_its_form() -> None:
    result = NodeExecutionResult(component_id="ask", usage=Usage(11, 2))
    dumped = result.model_dump(mode="json")
    assert dumped["usage"] == json.loads(STORED)["usage"]
    back = NodeExecutionResult.model_validate_json(result.model_dump_json())
    assert back.usage == result.usage


def test_a_result_takes_the_usage_a_provider_reported() -> None:
    from danaflow.llm.provider import LLMResponse

    response = LLMResponse("hello", usage=LLMUsage(11, 2))
    result = NodeExecutionResult(component_id="ask", usage=response.usage)
    assert result.usage is response.usage
    assert (result.usage + Usage(1, 1)).total_tokens == 15
