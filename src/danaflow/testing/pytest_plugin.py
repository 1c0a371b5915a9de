"""Pytest fixtures shipped with danaflow (the fake LLM server and friends).

Registered by ``tests/conftest.py``; a user's project can add it to ``pytest_plugins`` too.
``fake_llm`` is a started ``danaflow.testing.fake_llm.FakeLLMServer``, fresh for each test; see
that module for the scripting API (``reply``, ``add_rule``, ``fail``, ``requests``, ``resource``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from danaflow.testing.fake_llm import FakeLLMServer

__all__ = ["fake_llm"]


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    """A fake OpenAI- and Anthropic-compatible server on 127.0.0.1, stopped after the test."""
    with FakeLLMServer() as server:
        yield server
