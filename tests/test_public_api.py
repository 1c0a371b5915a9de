"""The top-level API: every public name resolves, the list is sorted, and importing is light."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import danaflow


def test_all_is_sorted_and_matches_the_export_table() -> None:
    assert danaflow.__all__ == sorted(danaflow.__all__)
    assert set(danaflow.__all__) == {*danaflow._EXPORTS, "__version__"}


def test_every_public_name_resolves_to_its_module() -> None:
    for name, module in danaflow._EXPORTS.items():
        value = getattr(danaflow, name)
        assert value is getattr(importlib.import_module(module), name), name


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        danaflow.NoSuchThing  # noqa: B018
    except AttributeError as err:
        assert "NoSuchThing" in str(err)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_import_danaflow_loads_no_heavy_modules() -> None:
    code = (
        "import sys, danaflow\n"
        "heavy = ['lark', 'opentelemetry', 'httpx', 'sqlite3', 'pydantic', 'torch', 'openai']\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
    )
    assert out.stdout.strip() == ""


def test_seed_call_shapes(tmp_path: Path) -> None:
    # Seed 002/003: a SandboxContext with initial state, run() against it.
    ctx = danaflow.SandboxContext(
        initial_private_state={"agent_id": "analyzer_01"}, initial_public_state={"input_list": ["a", "b"]}
    )
    outcome = danaflow.run(
        "local:n = len(public:input_list)\nprivate:status = f'{private:agent_id} saw {local:n}'\n",
        ctx,
        print_sink=lambda s: None,
    )
    assert outcome.error is None, outcome.error
    assert ctx.get("private:status") == "analyzer_01 saw 2"
    # Seed 004: RunContext(...) and setup_run(run_id_prefix=...).
    run_context = danaflow.RunContext(
        root_component_id="my_agent", project_root=tmp_path, run_root=tmp_path / "runs"
    )
    run_context.setup_run(run_id_prefix="test")
    assert run_context.run_id.startswith("test_")
    run_context.close()
    # Seed 001: templates and results.
    template = danaflow.ObjectTemplate(expression="$expr{[1, 2][0] + 1}")
    assert template.expression.startswith("$expr")
