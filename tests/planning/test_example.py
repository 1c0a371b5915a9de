"""examples/seed000_tutorial.py end to end, on the fake LLM server instead of the embedded model."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "seed000_tutorial.py"


def test_the_tutorial_script_runs_its_plan(fake_llm, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DANAFLOW_LLM", fake_llm.spec)
    fake_llm.add_rule(
        "Current step: analyze_data",
        json.dumps({"reasoning": "B has 5.84 defects per 100 units, four times A.", "answer": "line B"}),
    )
    fake_llm.add_rule(
        "Current step: recommend",
        json.dumps(
            {
                "reasoning": "Line B is worst, and its night shift has the most defects.",
                "answer": "Audit line B's night shift",
            }
        ),
    )
    main = runpy.run_path(str(EXAMPLE))["main"]
    assert main(tmp_path) == 0
    out = capsys.readouterr().out
    assert "- Status: completed" in out
    assert "- Completed Steps: ['collect_data', 'analyze_data', 'recommend']" in out
    assert "line B: 1850 units, 108 defects, 5.84 per 100" in out
    assert "Audit line B's night shift" in out
    # The analysis step saw the numbers the Dana step computed from the database.
    analyze = next(r for r in fake_llm.requests if "Current step: analyze_data" in r.prompt)
    assert "line B: 1850 units, 108 defects, 5.84 per 100" in analyze.prompt
    assert (tmp_path / "manufacturing.db").is_file()
    assert len(list((tmp_path / "runs").glob("plan_*/run.json"))) == 1
