"""The run commands as a user meets them: real ``danaflow`` subprocesses, real run folders, and the
fake LLM server for flows that call a model. Exit codes: 0 completed, 1 failed, 2 usage or run
error, 3 waiting for input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from danaflow.errors import RunError
from danaflow.runs.cli_commands import parse_inputs
from danaflow.runs.store import SQLiteRunStore
from danaflow.testing.fake_llm import Reply

HERE = Path(__file__).parent
CRASH = f"{HERE / 'crash_flow.py'}:agent"

APPROVAL = """
from danaflow.flow.definition import FlowDefinition
from danaflow.flow.nodes.python import PythonNode

flow = FlowDefinition("approval")
flow.node("draft", PythonNode(lambda ctx: "a draft", in_thread=False))
flow.node(
    "approve",
    PythonNode(
        lambda ctx: f"approved: {ctx.node_input}",
        in_thread=False,
        input_required=True,
        description="Approve the draft? (yes/no)",
    ),
)
"""

FAILING = """
from danaflow.flow.definition import AgentDefinition, FlowDefinition
from danaflow.flow.nodes.python import PythonNode

def explode(ctx):
    raise ValueError("first line of the failure\\nsecond line of the failure")

flow = FlowDefinition()
flow.node("ok", PythonNode(lambda ctx: "fine", in_thread=False))
flow.node("boom", PythonNode(explode, in_thread=False))
agent = AgentDefinition("fails").flow("main", flow)
"""

LLM_FLOW = """
from danaflow import AIModelNode, AIModelNodeSettings, AgentDefinition, FlowDefinition, Prompt

flow = FlowDefinition()
flow.node("ask", AIModelNode(settings=AIModelNodeSettings(prompt=Prompt.with_dad_text(text="Say hi"))))
agent = AgentDefinition("talk").flow("main", flow)
"""

OUTPUT = """
from danaflow.flow.definition import FlowDefinition
from danaflow.flow.nodes.python import PythonNode

flow = FlowDefinition("report")
flow.node("lines", PythonNode(lambda ctx: "\\n".join(f"line {i}" for i in range(100)), in_thread=False))
"""

STRUCTURED = """
from danaflow.flow.definition import FlowDefinition
from danaflow.flow.nodes.python import PythonNode

flow = FlowDefinition("facts")
flow.node("facts", PythonNode(lambda ctx: {"city": "Paris", "rank": 1}, in_thread=False))
"""


def danaflow(
    *args: str, cwd: Path, env: dict[str, str] | None = None, module: str = "danaflow.launcher"
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    full_env.update({"DANAFLOW_RUN_ROOT": str(cwd / "runs"), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def write(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


def runs_in(tmp_path: Path) -> list:
    db = tmp_path / "runs" / "danaflow.db"
    if not db.exists():
        return []
    with SQLiteRunStore(db) as store:
        return store.list_runs()


def crash_env(tmp_path: Path) -> dict[str, str]:
    return {"CRASH_SIDE_EFFECTS": str(tmp_path / "side.txt")}


# ---- run: the outcome at the end ---------------------------------------------------------------
def test_run_prints_plain_progress_then_the_roots_output(tmp_path):
    proc = danaflow("run", CRASH, cwd=tmp_path, env=crash_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    (run,) = runs_in(tmp_path)
    assert lines[0] == f"run {run.run_id} ({tmp_path / 'runs' / run.run_id})"
    assert "✓ crash.main.n0 (" in lines[1]  # plain lines when not a TTY
    assert lines[-2].startswith(f"run {run.run_id}: completed")
    assert lines[-1] == "output: 126"  # the root's outcome: its last node's value


def test_long_output_is_cut_and_says_how_to_see_the_rest(tmp_path):
    proc = danaflow("run", write(tmp_path, "report.py", OUTPUT) + ":flow", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "output:\n  line 0\n  line 1\n" in out
    assert "  line 19\n" in out and "line 20" not in out
    (run,) = runs_in(tmp_path)
    assert f"… (80 more lines: danaflow runs show {run.run_id} --component report)" in out


def test_structured_output_is_printed_as_json(tmp_path):
    proc = danaflow("run", write(tmp_path, "facts.py", STRUCTURED) + ":flow", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert 'output:\n  {\n    "city": "Paris",\n    "rank": 1\n  }\n' in proc.stdout


# ---- runs list ---------------------------------------------------------------------------------
def test_runs_list_keeps_whole_ids_at_any_width_and_filters_and_speaks_json(tmp_path):
    ok = danaflow("run", CRASH, cwd=tmp_path, env=crash_env(tmp_path))
    bad = danaflow("run", write(tmp_path, "fails.py", FAILING) + ":agent", cwd=tmp_path)
    assert (ok.returncode, bad.returncode) == (0, 1), ok.stderr + bad.stderr
    failed, completed = runs_in(tmp_path)  # newest first
    tables = {}
    for columns in ("20", "70", "200"):
        listed = danaflow("runs", "list", cwd=tmp_path, env={"COLUMNS": columns})
        assert listed.returncode == 0, listed.stderr
        lines = tables[columns] = listed.stdout.splitlines()
        assert lines[0].split() == ["RUN", "STATUS", "CREATED", "ROOT", "RESUMES"]
        # Whole ids and statuses at every width, newest first.
        assert lines[1].split()[:2] == [failed.run_id, "failed"]
        assert lines[2].split()[:2] == [completed.run_id, "completed"]
    assert tables["200"][1].split()[-1] == "fails"  # room for everything: nothing cut
    assert tables["20"][1].split()[-1] == "fai…"  # the other columns gave way
    assert all(len(line) <= 70 for line in tables["70"]) and "…" in tables["70"][1]
    only = danaflow("runs", "list", "--status", "failed", "--json", cwd=tmp_path)
    rows = json.loads(only.stdout)
    assert [r["run_id"] for r in rows] == [failed.run_id]
    assert rows[0]["status"] == "failed" and rows[0]["root_component_id"] == "fails"
    every = json.loads(danaflow("runs", "list", "--json", cwd=tmp_path).stdout)
    assert [r["run_id"] for r in every] == [failed.run_id, completed.run_id]
    nonsense = danaflow("runs", "list", "--status", "done", cwd=tmp_path)
    assert nonsense.returncode == 2 and "want one of running, completed, failed" in nonsense.stderr


def test_run_ids_take_a_unique_prefix_or_latest_everywhere(tmp_path):
    first = danaflow("run", CRASH, "--prefix", "alpha", cwd=tmp_path, env=crash_env(tmp_path))
    second = danaflow("run", CRASH, "--prefix", "alpine", cwd=tmp_path, env=crash_env(tmp_path))
    assert first.returncode == second.returncode == 0
    newest, oldest = runs_in(tmp_path)
    shown = danaflow("runs", "show", "latest", cwd=tmp_path)
    assert shown.returncode == 0 and f"run      {newest.run_id}" in shown.stdout
    by_prefix = danaflow("runs", "show", "alp", cwd=tmp_path)
    assert by_prefix.returncode == 2
    assert "prefix 'alp' is ambiguous" in by_prefix.stderr
    assert newest.run_id in by_prefix.stderr and oldest.run_id in by_prefix.stderr
    assert danaflow("runs", "show", "alph", cwd=tmp_path).stdout.startswith(f"run      {oldest.run_id}")
    resumed = danaflow("resume", "alpi", "--from", "crash.main.n4", cwd=tmp_path, env=crash_env(tmp_path))
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumes {newest.run_id} from crash.main.n4" in resumed.stdout
    removed = danaflow("runs", "rm", "alph", "latest", cwd=tmp_path)  # latest: the resume's run
    assert removed.returncode == 0, removed.stderr
    assert {r.run_id for r in runs_in(tmp_path)} == {newest.run_id}
    unknown = danaflow("runs", "show", "zzz", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown run 'zzz': want a run id, a unique prefix" in unknown.stderr


# ---- runs show ---------------------------------------------------------------------------------
def test_runs_show_gives_each_output_and_the_whole_error_once(tmp_path):
    proc = danaflow("run", write(tmp_path, "fails.py", FAILING) + ":agent", cwd=tmp_path)
    assert proc.returncode == 1
    # The failure is printed once: at the end, where it happened, not once per enclosing composite.
    both = proc.stdout + proc.stderr
    assert both.count("first line of the failure") == 1, both
    assert "error at fails.main.boom: ValueError: first line of the failure\nsecond line" in proc.stdout
    (run,) = runs_in(tmp_path)
    shown = danaflow("runs", "show", run.run_id, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    tree = shown.stdout
    assert "✓ ok  completed" in tree and "→ fine" in tree
    assert "✗ boom  failed" in tree
    assert tree.count("first line of the failure") == 1
    assert "second line of the failure" in tree  # whole, not its first line
    full = danaflow("runs", "show", run.run_id, "--component", "fails.main.boom", cwd=tmp_path)
    assert full.returncode == 0, full.stderr
    assert "error:     ValueError at fails.main.boom" in full.stdout
    assert "traceback:" in full.stdout and "explode" in full.stdout
    missing = danaflow("runs", "show", run.run_id, "--component", "boom", cwd=tmp_path)
    assert missing.returncode == 2
    assert "component 'boom' names no component" in missing.stderr and "fails.main.boom" in missing.stderr


def test_runs_show_escapes_terminal_control_sequences(tmp_path):
    hostile = OUTPUT.replace('"\\n".join(f"line {i}" for i in range(100))', '"\\x1b[2J\\x1b]0;pwned\\x07 hi"')
    proc = danaflow("run", write(tmp_path, "hostile.py", hostile) + ":flow", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "\\x1b[2J" in proc.stdout
    shown = danaflow("runs", "show", "latest", cwd=tmp_path)
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout and "\\x07 hi" in shown.stdout


def test_a_run_that_failed_before_any_component_ran_says_why(tmp_path):
    cyclic = (
        "from danaflow.flow.definition import FlowDefinition\n"
        "from danaflow.flow.nodes.python import PythonNode\n"
        "flow = FlowDefinition('loop')\n"
        "flow.node('a', PythonNode(lambda ctx: 1, in_thread=False))\n"
        "flow.node('b', PythonNode(lambda ctx: 2, in_thread=False))\n"
        "flow.connect('a', 'b')\n"
        "flow.connect('b', 'a')\n"
    )
    proc = danaflow("run", write(tmp_path, "cyclic.py", cyclic) + ":flow", cwd=tmp_path)
    assert proc.returncode == 2
    assert "cycle" in proc.stderr
    (run,) = runs_in(tmp_path)
    shown = danaflow("runs", "show", run.run_id, cwd=tmp_path)
    assert shown.returncode == 0
    assert "status   failed" in shown.stdout
    assert "failed before any component ran: " in shown.stdout and "cycle" in shown.stdout


# ---- mistakes get caught -------------------------------------------------------------------------
def test_input_for_a_path_that_waits_for_nothing_is_an_error_listing_the_waiting_ones(tmp_path):
    target = write(tmp_path, "approval.py", APPROVAL) + ":flow"
    proc = danaflow("run", target, "--input", "approval.aprove=yes", cwd=tmp_path)
    assert proc.returncode == 2
    assert "input path 'approval.aprove' names no component waiting for input" in proc.stderr
    assert "did you mean 'approval.approve'?" in proc.stderr and "want one of approval.approve" in proc.stderr
    assert runs_in(tmp_path) == []  # nothing was created
    not_waiting = danaflow("run", target, "--input", "approval.draft=x", cwd=tmp_path)
    assert not_waiting.returncode == 2 and "want one of approval.approve" in not_waiting.stderr
    answered = danaflow("run", target, "--input", "approval.approve=yes", cwd=tmp_path)
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout.splitlines()[-1] == "output: approved: yes"


def test_a_waiting_run_says_which_node_waits_for_what_then_resumes_with_the_input(tmp_path):
    target = write(tmp_path, "approval.py", APPROVAL) + ":flow"
    proc = danaflow("run", target, cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    (run,) = runs_in(tmp_path)
    assert f"run {run.run_id}: waiting for input" in proc.stdout
    assert "approval.approve waits for: Approve the draft? (yes/no)" in proc.stdout
    assert f"resume with: danaflow resume {run.run_id} --input approval.approve=<json>" in proc.stdout
    wrong = danaflow("resume", "latest", "--input", "approval.draft=yes", cwd=tmp_path)
    assert wrong.returncode == 2 and "want one of approval.approve" in wrong.stderr
    assert len(runs_in(tmp_path)) == 1  # a failed resume leaves no new run behind
    resumed = danaflow("resume", "latest", "--input", 'approval.approve="yes"', cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines()[-1] == "output: approved: yes"


def test_a_failed_resume_leaves_no_new_run_and_lists_the_paths(tmp_path):
    first = danaflow("run", CRASH, cwd=tmp_path, env=crash_env(tmp_path))
    assert first.returncode == 0
    (run,) = runs_in(tmp_path)
    proc = danaflow("resume", run.run_id, "--from", "n3", cwd=tmp_path, env=crash_env(tmp_path))
    assert proc.returncode == 2
    assert "resume path 'n3' names no component" in proc.stderr and "crash.main.n3" in proc.stderr
    assert [r.run_id for r in runs_in(tmp_path)] == [run.run_id]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir() if p.is_dir()) == [run.run_id]


def test_resuming_over_changed_code_warns_on_the_terminal(tmp_path):
    target = write(tmp_path, "approval.py", APPROVAL)
    assert danaflow("run", target + ":flow", cwd=tmp_path).returncode == 3
    Path(target).write_text(APPROVAL + "\n# edited\n")
    proc = danaflow("resume", "latest", "--input", "approval.approve=ok", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "resuming run" in proc.stderr and "over changed code" in proc.stderr


def test_a_flow_modules_syntax_error_names_the_users_file_and_line(tmp_path):
    bad = write(tmp_path, "broken.py", "x = 1\ndef f(:\n    pass\n")
    proc = danaflow("run", f"{bad}:flow", cwd=tmp_path)
    assert proc.returncode == 2
    first = proc.stderr.splitlines()[0]
    assert first.startswith(f"error: {bad}:2:7: cannot load the module: SyntaxError")
    assert "def f(:" in proc.stderr
    assert "danaflow/" not in proc.stderr and "Traceback" not in proc.stderr


def test_a_flow_modules_runtime_error_names_the_users_line(tmp_path):
    bad = write(
        tmp_path,
        "wrong.py",
        "from danaflow import FlowDefinition\nflow = FlowDefinition('f')\nflow.node('a', 3)\n",
    )
    proc = danaflow("run", f"{bad}:flow", cwd=tmp_path)
    assert proc.returncode == 2
    assert f"{bad}:3: cannot load the module: FlowDefinitionError" in proc.stderr
    assert "flow.node('a', 3)" in proc.stderr


def test_parse_inputs():
    assert parse_inputs(['a.b={"x": 1}', "a.c=hello", "a.d=3"]) == {"a.b": {"x": 1}, "a.c": "hello", "a.d": 3}
    with pytest.raises(RunError, match=r"want node\.path=json"):
        parse_inputs(["nonsense"])


def test_bad_targets(tmp_path):
    assert "want 'module.py:agent_or_flow'" in danaflow("run", "no_colon.py", cwd=tmp_path).stderr
    missing = danaflow("run", f"{HERE / 'crash_flow.py'}:nothing", cwd=tmp_path)
    assert missing.returncode == 2 and "has no 'nothing': want one of agent, main, sub" in missing.stderr


# ---- model failures ------------------------------------------------------------------------------
@pytest.mark.parametrize("progress", [[], ["--progress"]], ids=["plain-lines", "live-table"])
def test_a_connection_error_prints_once_and_names_the_url(tmp_path, progress):
    env = {"DANAFLOW_LLM": "openai-compatible:http://127.0.0.1:9/v1#m"}
    proc = danaflow("run", write(tmp_path, "talk.py", LLM_FLOW) + ":agent", *progress, cwd=tmp_path, env=env)
    assert proc.returncode == 1
    both = proc.stdout + proc.stderr
    assert both.count("cannot connect to POST http://127.0.0.1:9/v1/chat/completions") == 1, both
    assert "error at talk.main.ask: " in proc.stdout
    if not progress:
        assert "✗ talk.main.ask (" in proc.stdout and "✗ talk (" in proc.stdout
    else:  # the live table: statuses only, the error after it
        assert proc.stdout.index("talk.main.ask") < proc.stdout.index("error at talk.main.ask")


def test_http_404_says_which_endpoint(tmp_path, fake_llm):
    fake_llm.fail(status=404, times=5, message="model not found")
    proc = danaflow(
        "run",
        write(tmp_path, "talk.py", LLM_FLOW) + ":agent",
        cwd=tmp_path,
        env={"DANAFLOW_LLM": fake_llm.spec},
    )
    assert proc.returncode == 1
    assert f"HTTP 404: model not found (from POST {fake_llm.base_url}/chat/completions)" in proc.stdout


def test_a_bad_model_spec_says_where_it_came_from(tmp_path):
    target = write(tmp_path, "talk.py", LLM_FLOW) + ":agent"
    from_env = danaflow("run", target, cwd=tmp_path, env={"DANAFLOW_LLM": "gpt4"})
    assert from_env.returncode == 1
    assert "DANAFLOW_LLM='gpt4': bad model spec 'gpt4'" in from_env.stdout
    (tmp_path / "danaflow.toml").write_text('llm = "openai-compatible:no-url"\n')
    env = {**os.environ}
    env.pop("DANAFLOW_LLM", None)
    from_file = subprocess.run(
        [sys.executable, "-m", "danaflow.launcher", "run", target],
        cwd=tmp_path,
        env={**env, "DANAFLOW_RUN_ROOT": str(tmp_path / "runs")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert from_file.returncode == 1
    assert (
        f"{tmp_path / 'danaflow.toml'}: llm = 'openai-compatible:no-url': bad model spec" in from_file.stdout
    )


def test_standalone_module_runs_the_commands_as_the_docs_say(tmp_path):
    ran = danaflow("run", CRASH, cwd=tmp_path, env=crash_env(tmp_path), module="danaflow.runs")
    assert ran.returncode == 0, ran.stderr
    listed = danaflow("list", cwd=tmp_path, module="danaflow.runs")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split()[:2] == [runs_in(tmp_path)[0].run_id, "completed"]
    shown = danaflow("show", "latest", cwd=tmp_path, module="danaflow.runs")
    assert shown.returncode == 0 and "n5  completed" in shown.stdout
    usage = danaflow("--help", cwd=tmp_path, module="danaflow.runs")
    assert "Usage: python -m danaflow.runs" in usage.stdout


# ---- run --stream, Ctrl-C, resume -----------------------------------------------------------------
STORY = """
import os
from danaflow import AIModelNode, AIModelNodeSettings, FlowDefinition, PythonNode

def first(ctx):
    with open(os.environ["STORY_SIDE"], "a", encoding="utf-8") as f:
        f.write("first\\n")
    return "ready"

flow = FlowDefinition("story")
flow.node("first", PythonNode(first, in_thread=False))
flow.node("ask", AIModelNode(settings=AIModelNodeSettings(prompt="Tell a story")))
flow.node("after", PythonNode(lambda ctx: ctx.get_result("ask").outcome.text.upper(), in_thread=False))
"""


def story_env(tmp_path: Path, fake_llm) -> dict[str, str]:
    return {"DANAFLOW_LLM": fake_llm.spec, "STORY_SIDE": str(tmp_path / "side.txt")}


def test_run_stream_prints_the_models_text_between_the_progress_lines(tmp_path, fake_llm):
    fake_llm.reply("Once upon a time \x1b[31mthere was a fox.")
    target = write(tmp_path, "story.py", STORY) + ":flow"
    proc = danaflow("run", target, "--stream", cwd=tmp_path, env=story_env(tmp_path, fake_llm))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].startswith("✓ story.first (")
    assert lines[2] == r"story.ask: Once upon a time \x1b[31mthere was a fox."  # escaped, not obeyed
    assert lines[3].startswith("✓ story.ask (")
    assert lines[-1] == r"output: ONCE UPON A TIME \x1b[31MTHERE WAS A FOX."
    assert fake_llm.requests[-1].stream
    quiet = danaflow(
        "run", target, "--stream", "--no-progress", cwd=tmp_path, env=story_env(tmp_path, fake_llm)
    )
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.splitlines()[1] == "story.ask: OK"  # the fake's default reply; no ✓ lines


def test_ctrl_c_mid_stream_interrupts_the_run_and_resume_completes_it(tmp_path, fake_llm):
    words = " ".join(f"w{i}" for i in range(60))
    fake_llm.reply(Reply(words, chunk_delay=0.3))
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env.update(DANAFLOW_RUN_ROOT=str(tmp_path / "runs"), **story_env(tmp_path, fake_llm))
    target = write(tmp_path, "story.py", STORY) + ":flow"
    proc = subprocess.Popen(
        [sys.executable, "-m", "danaflow.launcher", "run", target, "--stream"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    seen = b""
    try:
        # Two deltas on screen, the second 0.3 s after the first: the text is live, the run mid-call.
        while b"story.ask: w0 w1" not in seen:
            chunk = os.read(proc.stdout.fileno(), 4096)
            assert chunk, f"the run ended before streaming: {seen!r} {proc.stderr.read()!r}"
            seen += chunk
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    out = (seen + out).decode()
    assert proc.returncode == 130, err.decode()
    (run,) = runs_in(tmp_path)
    assert f"run {run.run_id}: interrupted\nresume with: danaflow resume {run.run_id}\n" in out
    assert run.status == "interrupted"
    with SQLiteRunStore(tmp_path / "runs" / "danaflow.db") as store:
        rows = {c.path: c.status for c in store.list_components(run.run_id)}
    assert rows == {"story": "interrupted", "story.first": "completed", "story.ask": "interrupted"}
    shown = danaflow("runs", "show", run.run_id, cwd=tmp_path).stdout
    assert "status   interrupted" in shown and "! ask  interrupted" in shown and "✓ first  completed" in shown

    fake_llm.reply("The end.")
    again = danaflow("resume", run.run_id, "--stream", cwd=tmp_path, env=story_env(tmp_path, fake_llm))
    assert again.returncode == 0, again.stderr
    assert "story.ask: The end." in again.stdout
    assert again.stdout.splitlines()[-1] == "output: THE END."
    assert (tmp_path / "side.txt").read_text() == "first\n"  # reused by the resume, never run twice
    latest = runs_in(tmp_path)[0]
    with SQLiteRunStore(tmp_path / "runs" / "danaflow.db") as store:
        resumed = {c.path: (c.status, c.reused) for c in store.list_components(latest.run_id)}
    assert resumed == {
        "story": ("completed", False),
        "story.first": ("completed", True),
        "story.ask": ("completed", False),
        "story.after": ("completed", False),
    }
