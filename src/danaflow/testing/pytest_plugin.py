"""Pytest fixtures shipped with danaflow (the fake LLM server and friends).

Registered by ``tests/conftest.py``; a user's project can add it to ``pytest_plugins`` too.
"""

from __future__ import annotations
