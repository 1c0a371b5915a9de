"""Every code block of the five seeds, as written, with only the imports changed to danaflow.

A block runs as a notebook cell would (top-level ``await`` allowed) in a namespace the test
prepares with the names the seed leaves to the reader (``execution_context``, ``task_spec``,
``my_flow``, ...); then the test checks what the block did. Where a seed lost its indentation in
transcription, the indentation is restored; where it names paths on the author's machine
(``/path/to/project``), they point into the test's temporary directory. Model calls go to the
local fake server; the seeds' Dana programs run once more on the embedded model in the slow tier.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import danaflow
from danaflow import (
    AgentExecutionContext,
    ExecutableTypeEnum,
    ExecutionStatusEnum,
    FlowDefinition,
    FlowExecutionContext,
    InMemoryRun,
    NodeExecutionResult,
    NodeOutcome,
    PythonNode,
)


def run_block(source: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """Executes one seed block like a notebook cell; returns the namespace."""
    code = compile(source, "<seed block>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    out = eval(code, namespace)  # the seed's own code: what this file tests
    if inspect.iscoroutine(out):
        asyncio.run(out)
    return namespace


@pytest.fixture
def fake_default(fake_llm, monkeypatch, tmp_path):
    """The configured default model is the fake server; runs land in the temporary directory."""
    monkeypatch.setenv("DANAFLOW_LLM", fake_llm.spec)
    monkeypatch.chdir(tmp_path)
    return fake_llm


# ---- seed 000: the execution context of the Dana tutorial ------------------------------------
SEED000_IMPORTS = """
from danaflow import ExecutionContext
from danaflow import AgentState, WorldState, ExecutionState
from danaflow import LLMResource
"""
SEED000_CONTEXT = """
# Create LLM resources for different layers
planning_llm = LLMResource()
reasoning_llm = LLMResource()

# Initialize the execution context
context = ExecutionContext(
    planning_llm=planning_llm,
    reasoning_llm=reasoning_llm,
    agent_state=AgentState(),
    world_state=WorldState(),
    execution_state=ExecutionState(),
    global_context={"version": "1.0"}
)

print("Execution Context Created:")
print(f"- Planning LLM: {context.planning_llm}")
print(f"- Reasoning LLM: {context.reasoning_llm}")
print(f"- Global Context: {context.global_context}")
"""
SEED000_STATE = """
# Update agent state
context.agent_state.update(
    current_step="analyzing_data",
    progress=0.5,
    last_action="collected_data"
)

# Update world state
context.world_state.update(
    environment_status="stable",
    available_resources=["llm", "database"],
    constraints=["time_limit", "budget"]
)

# Update execution state
context.execution_state.update(
    status="in_progress",
    current_result={"data": "sample_data"},
    error=None
)

# Print current states
print("Agent State:")
print(f"- Current Step: {context.agent_state.current_step}")
print(f"- Progress: {context.agent_state.progress}")
print(f"- Last Action: {context.agent_state.last_action}")

print("\\nWorld State:")
print(f"- Environment Status: {context.world_state.environment_status}")
print(f"- Available Resources: {context.world_state.available_resources}")
print(f"- Constraints: {context.world_state.constraints}")

print("\\nExecution State:")
print(f"- Status: {context.execution_state.status}")
print(f"- Current Result: {context.execution_state.current_result}")
print(f"- Error: {context.execution_state.error}")
"""
SEED000_RESOURCES = """
from danaflow import ToolResource, DatabaseResource

# Create additional resources
tool_resource = ToolResource(
    name="data_analysis",
    description="Tool for data analysis",
    tool_type="analysis"
)

db_resource = DatabaseResource(
    name="manufacturing_db",
    description="Database for manufacturing data",
    connection_string="postgresql://user:pass@localhost:5432/manufacturing"
)

# Register resources with context
context.register_resource(tool_resource)
context.register_resource(db_resource)

# Get resource by name
analysis_tool = context.get_resource("data_analysis")
database = context.get_resource("manufacturing_db")

print("Registered Resources:")
print(f"- Analysis Tool: {analysis_tool}")
print(f"- Database: {database}")
"""
SEED000_PLAN = """
from danaflow import Plan
from danaflow import PlanStep
from danaflow import ChainOfThoughtStrategy

# Create a plan
plan = Plan(
    name="data_analysis_plan",
    description="Plan for analyzing manufacturing data",
    objective="Identify patterns in manufacturing data"
)

# Create plan steps
plan.add_step(PlanStep(
    name="collect_data",
    description="Collect manufacturing data",
    expected_duration="1 day"
))

plan.add_step(PlanStep(
    name="analyze_data",
    description="Analyze collected data",
    expected_duration="2 days"
))

# Register reasoning strategy
context.register_reasoning_strategy("chain_of_thought", ChainOfThoughtStrategy())

# Execute plan with context
result = context.execute_plan(plan)

print("Plan Execution Result:")
print(f"- Status: {result.status}")
print(f"- Completed Steps: {result.completed_steps}")
print(f"- Total Duration: {result.total_duration}")
"""


def test_seed000_the_tutorial_cells_in_order(fake_default, capsys):
    fake_default.default_reply = '{"reasoning": "defects cluster on line B", "answer": "line B"}'
    ns: dict[str, Any] = {}
    for cell in (SEED000_IMPORTS, SEED000_CONTEXT, SEED000_STATE, SEED000_RESOURCES, SEED000_PLAN):
        run_block(cell, ns)
    out = capsys.readouterr().out
    assert "- Global Context: {'version': '1.0'}" in out
    assert "- Current Step: analyzing_data" in out and "- Constraints: ['time_limit', 'budget']" in out
    assert "- Current Result: {'data': 'sample_data'}" in out
    assert "postgresql://user:***@localhost:5432/manufacturing" in out  # the password is masked
    assert "pass@" not in out
    result = ns["result"]
    assert result.status == "completed", result.error
    assert result.completed_steps == ["collect_data", "analyze_data"]
    assert isinstance(result.total_duration, float)
    assert result["analyze_data"].strategy == "chain_of_thought"
    # Seed 000's global context is readable from Dana, read-only (issue 11 item 4).
    outcome = danaflow.run("system:version", ns["context"].sandbox)
    assert outcome.error is None and outcome.value == "1.0"
    ns["context"].close()


# ---- seed 001: the hierarchical execution context --------------------------------------------
SEED001_COMMUNICATION = """
# In an AIModelNode prompt template
prompt=Prompt.with_dad_text(
text=(
"## Repository Context\\n"
"$expr{$hier{dynamic_repo_analysis}.outcome.results}\\n\\n"
"## Previous Analysis\\n"
"$expr{$hier{code_generator}.outcome.structured.file_operations}"
),
)
# In a FileOperationNode settings
operations_template=ObjectTemplate(
expression="$expr{$hier{code_generator}.outcome.structured.file_operations}",
)
"""
SEED001_DATA_ACCESS = """
# Get a result from a specific node in the current context
result = execution_context.get_result("node_id")
# Get a variable from the context hierarchy (local or from parent contexts)
value = execution_context.get_context_variable("variable_name")
# Get a reference to a node in the hierarchy by path
node_context = execution_context.get_context_by_path("flow1.node3")
"""
SEED001_VARIABLES = """
# Define variables at the flow level
implementation_flow = FlowDefinition()
implementation_flow.vars(
{
"task_spec": task_spec, # This variable is accessible to all nodes in the flow
}
)
# Access component variables in node settings or templates
prompt=Prompt.with_dad_text(
text=(
"Task Specification\\n"
"Task ID: $expr{task_spec.task_id}\\n"
"Description: $expr{task_spec.description}\\n\\n"
),
)
"""
SEED001_HIER = """
# In a template or expression
"$hier{flow_id.node_id.outcome.structured.property}"
"""
SEED001_TEMPLATES = [
    '"$var{task_description}"',
    '"$expr{task_spec.required_context}"',
    '"$expr{$hier{dynamic_repo_analysis}.outcome.results}"',
    '"$expr{$hier{code_generator}.outcome.structured.file_operations[$var{index}]}"',
]
SEED001_RESULTS = """
# Store a result
execution_context.set_result("node_id", node_execution_result)
# Retrieve a result
result = execution_context.get_result("node_id")
# Check if a result exists
has_result = execution_context.has_result("node_id")
"""
SEED001_RENDER = """
# Render a template with context variables
result = TemplateEngine.render_template(
template="Value from previous node: $hier{node_id.outcome.text}",
variables={},
execution_context=execution_context
)
"""
SEED001_EXECUTE = """
# Create a context for a flow
flow_context = FlowExecutionContext(
component_id="my_flow",
component_definition=my_flow_definition,
parent=parent_context, # Optional
run_context=run_context
)
# Execute a component with the context
result = await my_flow.execute(flow_context)
"""
SEED001_PRACTICAL = """
# Folder analysis node that analyzes files
implementation_flow.node(
"dynamic_repo_analysis",
FolderAnalyzerNode(
settings=FolderAnalyzerSettings(
base_directory=global_data_directory,
operations=folder_operations,
),
),
)
# Code generation node that uses the analysis results
implementation_flow.node(
"code_generator",
AIModelNode(
settings=AIModelNodeSettings(
prompt=Prompt.with_dad_text(
text=(
"## Repository Context\\n"
"$expr{$hier{dynamic_repo_analysis}.outcome.results}\\n\\n"
),
),
model_call_config=AIModelCallConfig(
structured_output=TaskImplementation,
),
),
),
)
# File operation node that uses the generated code operations
implementation_flow.node(
"code_generator_file_ops",
FileOperationNode(
settings=FileOperationNodeSettings(
base_directory=global_data_directory,
operations_template=ObjectTemplate(
expression="$expr{$hier{code_generator}.outcome.structured.file_operations}",
),
stage=True,
),
),
)
"""


class TaskSpec(BaseModel):
    task_id: str
    description: str
    required_context: list[str]


class FileOp(BaseModel):
    type: str
    path: str
    content: str


class TaskImplementation(BaseModel):
    summary: str
    file_operations: list[FileOp]


def _done(cid: str, **outcome: Any) -> NodeExecutionResult:
    return NodeExecutionResult(
        component_id=cid, execution_status=ExecutionStatusEnum.completed, outcome=NodeOutcome(**outcome)
    )


def _seed001_namespace() -> dict[str, Any]:
    """A node context inside flow1 of an agent, whose siblings have already run."""
    ns: dict[str, Any] = {}
    run_block("from danaflow import *\n", ns)
    agent = AgentExecutionContext(component_id="agent")
    flow1 = agent.create_child(ExecutableTypeEnum.flow, "flow1", variables={"variable_name": "from flow1"})
    ops = [{"type": "create_file", "path": "a.py", "content": "x = 1\n"}]
    flow1.set_result(
        "dynamic_repo_analysis", _done("dynamic_repo_analysis", text="2 files", results=["a", "b"])
    )
    flow1.set_result("code_generator", _done("code_generator", structured={"file_operations": ops}))
    flow1.set_result("node_id", _done("node_id", text="node text"))
    flow1.create_child(ExecutableTypeEnum.node, "node3")
    other = agent.create_child(ExecutableTypeEnum.flow, "flow_id")
    other.set_result("node_id", _done("node_id", structured={"property": 42}))
    ns["execution_context"] = flow1.create_child(ExecutableTypeEnum.node, "current")
    ns["task_spec"] = TaskSpec(task_id="T-1", description="Add tests", required_context=["calc.py"])
    flow1.variables["task_spec"] = ns["task_spec"]
    return ns


def test_seed001_the_context_class_has_the_seed_fields():
    ctx = _seed001_namespace()["execution_context"]
    for name in (
        "executable_type",
        "component_id",
        "component_definition",
        "context_id",
        "parent",
        "execution_status",
        "execution_results",
        "run_context",
    ):
        assert hasattr(ctx, name), name
    assert isinstance(ctx, danaflow.NodeExecutionContext) and isinstance(ctx.parent, FlowExecutionContext)


def test_seed001_component_communication_and_data_access():
    ns = run_block(SEED001_COMMUNICATION, _seed001_namespace())
    ctx = ns["execution_context"]
    rendered = ns["prompt"].render(ctx)
    assert '"a"' in rendered and '"a.py"' in rendered  # results and file operations, as JSON text
    assert ns["operations_template"].evaluate(ctx)[0]["path"] == "a.py"
    run_block(SEED001_DATA_ACCESS, ns)
    assert ns["result"].outcome.text == "node text"
    assert ns["value"] == "from flow1"
    assert ns["node_context"].path == "agent.flow1.node3"


def test_seed001_component_variables_and_template_expressions():
    ns = run_block(SEED001_VARIABLES, _seed001_namespace())
    flow_ctx = FlowExecutionContext(component_id="impl", variables=ns["implementation_flow"].variables)
    assert ns["prompt"].render(flow_ctx) == "Task Specification\nTask ID: T-1\nDescription: Add tests\n\n"
    engine = danaflow.TemplateEngine
    ctx = ns["execution_context"]
    hier = ast.literal_eval(SEED001_HIER.strip().splitlines()[-1])
    assert engine.evaluate(hier, {}, ctx) == 42  # flow_id.node_id: another flow's node, by path
    values = [
        engine.evaluate(ast.literal_eval(t), {"task_description": "describe", "index": 0}, ctx)
        for t in SEED001_TEMPLATES
    ]
    assert values[0] == "describe" and values[1] == ["calc.py"] and values[2] == ["a", "b"]
    assert values[3]["path"] == "a.py"


def test_seed001_result_management_and_rendering():
    ns = _seed001_namespace()
    ns["node_execution_result"] = _done("node_id", text="stored here")
    run_block(SEED001_RESULTS, ns)
    assert ns["result"].outcome.text == "stored here" and ns["has_result"] is True
    run_block(SEED001_RENDER, ns)
    assert ns["result"] == "Value from previous node: stored here"


def test_seed001_create_a_flow_context_and_execute():
    ns: dict[str, Any] = {}
    run_block("from danaflow import *\n", ns)
    definition = FlowDefinition("my_flow").node("answer", PythonNode(lambda ctx: 42))
    ns.update(
        my_flow_definition=definition,
        my_flow=definition,
        parent_context=AgentExecutionContext(component_id="agent"),
        run_context=InMemoryRun(),
    )
    run_block(SEED001_EXECUTE, ns)
    assert ns["result"].execution_status is ExecutionStatusEnum.completed
    assert ns["result"].get_result("answer").outcome.value == 42
    assert ns["parent_context"].get_result("my_flow") is ns["result"]


def test_seed001_practical_example(fake_default, tmp_path):
    fake_default.reply_json(
        {"summary": "a test", "file_operations": [{"type": "create_file", "path": "t.py", "content": "ok\n"}]}
    )
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    ns = run_block(SEED001_VARIABLES, _seed001_namespace())
    ns.update(
        global_data_directory=str(tmp_path / "repo"),
        folder_operations=[danaflow.FolderAnalysisOperation(type="analyze_folder", include_content=True)],
        TaskImplementation=TaskImplementation,
    )
    run_block(SEED001_PRACTICAL, ns)
    result = asyncio.run(danaflow.FlowRunner(ns["implementation_flow"]).run())
    assert result.execution_status is ExecutionStatusEnum.completed, result.error
    assert (tmp_path / "repo" / "t.py").read_text() == "ok\n"
    assert "calc.py" in fake_default.requests[-1].prompt


# ---- seed 002: state and scopes ---------------------------------------------------------------
SEED002_LOCAL = """
# Use local: scope for intermediate calculations
local:data = public:input_data
local:processed_items = []
for item in local:data:
    local:current_item = item
    # Assuming 'analyze_item' is a function that might use more local: variables
    local:analysis_result = analyze_item(local:current_item)
    local:processed_items.append(local:analysis_result)
# Final results might be stored in a more persistent scope if needed
private:final_results = local:processed_items
"""
SEED002_PRIVATE = """
# Track progress through a multi-step task for an agent
private:current_step = "data_collection"
private:items_processed_count = 0
private:total_items_to_process = 100
private:api_key = "my_secret_key" # Agent's private API key
# Check progress and make decisions
if private:items_processed_count >= private:total_items_to_process:
    private:current_step = "task_complete"
"""
SEED002_PUBLIC = """
# Manage shared tool authentication and session (if appropriate for public sharing)
public:shared_api_endpoint = "https://api.example.com/v1"
public:last_system_update_time = "2024-05-28T12:00:00Z"
# Access public information
log(f"Connecting to endpoint: {public:shared_api_endpoint}")
"""
SEED002_SYSTEM = """
# Accessing a system-provided value (conceptual)
log(f"Current Dana runtime version: {system:dana_version}")
"""
SEED002_DESIRED_TYPE = """
    # A function checking for a caller-desired type (passed by the system)
    if system:__dana_desired_type == UserProfile:
        log("Caller expects a UserProfile struct.")
        # ... function attempts to return a UserProfile
"""
SEED002_PYTHON = '''
from danaflow import SandboxContext
# Create context with initial state
context = SandboxContext(
initial_private_state={"name": "analyst_agent", "objective": "Process data"},
initial_public_state={"data_source_url": "http://example.com/data"},
initial_local_state={}
# system state is typically managed internally
)
# Programmatic access from Python code (e.g., a custom Resource)
agent_name = context.get("private:name")
context.set("local:processing_started", True)
# When a Dana program runs, it uses this context:
dana_program = """
log(f"Processing data for agent: {private:name}")
log(f"Data source: {public:data_source_url}")
local:results = []
private:status = "processing"
"""
# result = run_dana_program(dana_program, context) # Conceptual execution
'''


def test_seed002_the_scope_examples():
    ctx = danaflow.SandboxContext(initial_public_state={"input_data": [1, 2, 3]})
    ctx.registry.register("analyze_item", lambda item: item * 10)
    for program in (SEED002_LOCAL, SEED002_PRIVATE, SEED002_PUBLIC):
        outcome = danaflow.run(program, ctx)
        assert outcome.error is None, outcome.error
    assert ctx.get("private:final_results") == [10, 20, 30]
    assert ctx.get("private:current_step") == "data_collection"
    assert ctx.get("public:shared_api_endpoint") == "https://api.example.com/v1"


def test_seed002_the_system_scope_example():
    outcome = danaflow.run(SEED002_SYSTEM, danaflow.SandboxContext())
    assert outcome.error is None, outcome.error
    assert [r["message"] for r in outcome.logs] == [f"Current Dana runtime version: {danaflow.__version__}"]


def test_seed002_the_desired_type_example_inside_a_function():
    program = (
        "struct UserProfile:\n    name: str\n\ndef make_profile() -> UserProfile:"
        + SEED002_DESIRED_TYPE
        + '    return UserProfile(name="ada")\n\np: UserProfile = make_profile()\np.name\n'
    )
    outcome = danaflow.run(program, danaflow.SandboxContext())
    assert outcome.error is None, outcome.error
    assert outcome.value == "ada"
    assert [r["message"] for r in outcome.logs] == ["Caller expects a UserProfile struct."]


def test_seed002_the_python_api_example():
    ns = run_block(SEED002_PYTHON, {})
    assert ns["agent_name"] == "analyst_agent"
    context = ns["context"]
    assert context.get("local:processing_started") is True
    outcome = danaflow.run(ns["dana_program"], context)  # the seed's "conceptual execution"
    assert outcome.error is None, outcome.error
    assert context.get("private:status") == "processing" and context.get("local:results") == []


# ---- seed 003: the execution model -------------------------------------------------------------
SEED003 = '''
# Python-side setup (conceptual)
from danaflow import run # Hypothetical high-level run function
from danaflow import SandboxContext

# Define a Dana program
dana_program = """
# private: and public: scopes are assumed to be pre-populated in the context
log(f"Agent {private:agent_id} starting task.")

local:items_to_process = public:input_list
local:processed_results = []

for item in local:items_to_process:
 local:analysis_result = reason(f"Analyze this item: {item}", __dana_desired_type=str)
 local:processed_results.append(local:analysis_result)

private:summary = reason(f"Summarize these analyses: {local:processed_results}", __dana_desired_type=str)
log(f"Task complete. Summary: {private:summary}")
private:status = "complete"
"""

# Create and initialize context
initial_agent_state = {"agent_id": "analyzer_01", "status": "idle"}
initial_world_state = {"input_list": ["data_point_A", "data_point_B", "data_point_C"]}
context = SandboxContext(
 initial_private_state=initial_agent_state,
 initial_public_state=initial_world_state
)

# Execute the Dana program
# The 'run' function would handle parsing and interpretation
execution_outcome = run(dana_program, context)

# After execution, the context would be updated:
# context.get("private:status") would be "complete"
# context.get("private:summary") would contain the summary string
'''


def test_seed003_the_illustrative_program(fake_default):
    fake_default.add_rule(match="Analyze this item", reply="fine")
    fake_default.add_rule(match="Summarize", reply="all three are fine")
    ns = run_block(SEED003, {})
    assert ns["execution_outcome"].error is None, ns["execution_outcome"].error
    context = ns["context"]
    assert context.get("private:status") == "complete"
    assert context.get("private:summary") == "all three are fine"
    assert len(fake_default.requests) == 4


@pytest.mark.slow
def test_seed003_the_illustrative_program_on_the_embedded_model(monkeypatch, tmp_path):
    monkeypatch.setenv("DANAFLOW_LLM", "local:smollm2")
    monkeypatch.chdir(tmp_path)
    ns = run_block(SEED003, {})
    assert ns["execution_outcome"].error is None, ns["execution_outcome"].error
    assert ns["context"].get("private:status") == "complete"
    assert ns["context"].get("private:summary").strip()


# ---- seed 004: the execution model of the DSL ---------------------------------------------------
SEED004_RUN_CONTEXT = """
from danaflow import RunContext
from pathlib import Path

# Create a run context
run_context = RunContext(
    root_component_id="my_agent",  # ID of the root component being executed
    project_root=Path(PROJECT),  # Project root directory
    run_root=Path(PROJECT + "/runs"),  # Where run artifacts are stored
    observability_settings=my_observability_settings,  # Optional custom settings
)

# Setup the run (creates directories, initializes observability, etc.)
run_context.setup_run(run_id_prefix="test")
"""
SEED004_RUNNER = """
from danaflow import FlowRunner

# Create a runner for the flow
runner = FlowRunner(my_flow, run_context)

# Execute the flow
await runner.run()
"""
SEED004_ISOLATED = """
from danaflow import IsolatedExecution

async with IsolatedExecution(run_context) as execution:
    # Operations within this block run in an isolated environment
    result = await execution.run(runner)
"""
SEED004_PROMPT = """
prompt=Prompt.with_dad_text(
    "Based on the analysis: $hier{analyzer_node.outcome.text}\\n"
    "Generate code in $var{language} that $var{task}"
)
"""
SEED004_EVENTS = """
# Register an event handler
async def handle_input_required(event):
    if event.node_id == "ai_processor":
        event.input = AIModelNodeInput(
            prompt_variables={"query": "user input"}
        )
        event.handled = True

# Register the handler with the run context
run_context.register_node_input_handler(handle_input_required)
"""
SEED004_BRANCHES = """
# Handling errors with conditional branches
flow.connect("main_node", "success_node", on_success=True)
flow.connect("main_node", "error_handler", on_error=True)

# Continuing from a previous run
run_context = RunContext(
    root_component_id="my_agent",
    project_root=Path("."),
    previous_run_id="run_20231015_123456",  # ID of the previous run
    start_hierarchy_path="agent.flow1.node3"  # Continue from this node
)
"""


def test_seed004_run_context_runner_isolation_and_events(fake_default, tmp_path):
    fake_default.add_rule(match="user input", reply="an answer to the user")
    ns: dict[str, Any] = {"PROJECT": str(tmp_path / "project")}
    run_block("from danaflow import *\n", ns)
    ns["my_observability_settings"] = danaflow.ObservabilitySettings()
    run_block(SEED004_RUN_CONTEXT, ns)
    run_context = ns["run_context"]
    assert run_context.run_id.startswith("test_")
    my_flow = FlowDefinition("my_agent").node(
        "ai_processor",
        danaflow.AIModelNode(
            danaflow.AIModelNodeSettings(prompt=danaflow.Prompt.with_dad_text(text="Answer $var{query}")),
            input_required=True,
        ),
    )
    ns["my_flow"] = my_flow
    run_block(SEED004_EVENTS, ns)
    run_block(SEED004_RUNNER, ns)
    first = ns["runner"].context.result
    assert first.execution_status is ExecutionStatusEnum.completed, first.error
    assert first.get_result("ai_processor").outcome.text == "an answer to the user"
    run_context.close()
    # Isolated execution of a second run of the same flow.
    ns["run_context"] = danaflow.RunContext(
        root_component_id="my_agent",
        project_root=tmp_path / "project",
        run_root=tmp_path / "project" / "runs",
    )
    ns["run_context"].register_node_input_handler(ns["handle_input_required"])
    ns["runner"] = danaflow.FlowRunner(my_flow, ns["run_context"])
    run_block(SEED004_ISOLATED, ns)
    assert ns["result"].execution_status is ExecutionStatusEnum.completed
    ns["run_context"].close()
    run_dir = Path(ns["run_context"].run_dir.root)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"


def test_seed004_templates_branches_and_resume_shape(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns: dict[str, Any] = {}
    run_block("from danaflow import *\nfrom pathlib import Path\n", ns)
    run_block(SEED004_PROMPT, ns)
    ctx = FlowExecutionContext(component_id="f", variables={"language": "Python", "task": "adds"})
    ctx.set_result("analyzer_node", _done("analyzer_node", text="3 files"))
    assert ns["prompt"].render(ctx) == "Based on the analysis: 3 files\nGenerate code in Python that adds"
    flow = FlowDefinition("f")
    flow.node("main_node", PythonNode(lambda c: 1 / 0))
    flow.node("success_node", PythonNode(lambda c: "ok"))
    flow.node("error_handler", PythonNode(lambda c: "handled"))
    ns["flow"] = flow
    run_block(SEED004_BRANCHES, ns)
    result = asyncio.run(danaflow.FlowRunner(flow).run())
    assert result.execution_status is ExecutionStatusEnum.completed
    assert result.get_result("error_handler").outcome.value == "handled"
    assert result.get_result("success_node").execution_status is ExecutionStatusEnum.skipped
    resumed = ns["run_context"]
    assert (resumed.previous_run_id, resumed.start_hierarchy_path) == (
        "run_20231015_123456",
        "agent.flow1.node3",
    )
    with pytest.raises(danaflow.DanaflowError, match="run_20231015_123456"):
        resumed.setup_run()  # there is no such run to continue from here, and it says so
    resumed.close()
