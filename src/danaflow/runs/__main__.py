"""``python -m danaflow.runs list|show|rm|run|resume``: the run commands without the rest of the CLI."""

from __future__ import annotations

from .cli_commands import app

if __name__ == "__main__":
    app(prog_name="python -m danaflow.runs")
