"""``python -m danaflow.runs``: the run commands without the rest of the CLI (tests use it too)."""

from __future__ import annotations

from .cli_commands import app

if __name__ == "__main__":
    app()
