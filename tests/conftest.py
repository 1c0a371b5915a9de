"""Shared pytest configuration: the fixtures live in danaflow.testing so users can reuse them."""

pytest_plugins = ["danaflow.testing.pytest_plugin"]
