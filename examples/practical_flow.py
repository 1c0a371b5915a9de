"""The seeds' practical example: folder analysis -> AI code generation -> staged file operations.

Run: python examples/practical_flow.py [--dir DIR]

Without ``--dir`` it works on a small sample project in a temporary folder (so nothing of yours
changes). The model is the configured default: the embedded SmolLM2-135M unless ``DANAFLOW_LLM``
names another (e.g. ``openai:gpt-4o-mini`` or ``openai-compatible:http://localhost:11434/v1#llama3.2``).
The small embedded model proves the plumbing, not the quality of the code it writes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from danaflow.flow import (
    AIModelCallConfig,
    AIModelNode,
    AIModelNodeSettings,
    FileOperationNode,
    FileOperationNodeSettings,
    FlowDefinition,
    FlowRunner,
    FolderAnalysisOperation,
    FolderAnalyzerNode,
    FolderAnalyzerSettings,
)
from danaflow.template import ObjectTemplate, Prompt


class TaskSpec(BaseModel):
    task_id: str
    description: str


class CreateFile(BaseModel):
    """One file the model wants to write (a FileOperation the FileOperationNode understands).

    The schema is what the embedded model's decoding is constrained to: the Literal and the
    path pattern keep even a 135M-parameter model's answer a valid, relative Python file name.
    """

    type: Literal["create_file"] = "create_file"
    path: str = Field(pattern=r"^[a-z_][a-z0-9_]*[.]py$")
    content: str


class TaskImplementation(BaseModel):
    """The structured answer asked of the model: at least one file, a short summary."""

    summary: str = Field(max_length=200)
    file_operations: list[CreateFile] = Field(min_length=1, max_length=3)


def build_flow(directory: Path, task_spec: TaskSpec) -> FlowDefinition:
    implementation_flow = FlowDefinition("implementation")
    implementation_flow.vars({"task_spec": task_spec})
    implementation_flow.node(
        "dynamic_repo_analysis",
        FolderAnalyzerNode(
            settings=FolderAnalyzerSettings(
                base_directory=str(directory),
                operations=[
                    FolderAnalysisOperation(
                        type="analyze_folder", include_content=True, max_total_content=4000
                    )
                ],
            ),
        ),
    )
    implementation_flow.node(
        "code_generator",
        AIModelNode(
            settings=AIModelNodeSettings(
                prompt=Prompt.with_dad_text(
                    text=(
                        "## Task Specification\n"
                        "Task ID: $expr{task_spec.task_id}\n"
                        "Description: $expr{task_spec.description}\n\n"
                        "## Repository Context\n"
                        "$hier{dynamic_repo_analysis.outcome.text}\n\n"
                        "Answer with a summary and the files to create."
                    ),
                ),
                system_instructions=["You are a careful Python developer. Keep files short."],
                model_call_config=AIModelCallConfig(
                    structured_output=TaskImplementation, max_output_tokens=400
                ),
            ),
        ),
    )
    implementation_flow.node(
        "code_generator_file_ops",
        FileOperationNode(
            settings=FileOperationNodeSettings(
                base_directory=str(directory / "generated"),
                operations_template=ObjectTemplate(
                    expression="$expr{$hier{code_generator}.outcome.structured.file_operations}",
                ),
                stage=True,
            ),
        ),
    )
    return implementation_flow


def sample_project(root: Path) -> Path:
    (root / "generated").mkdir(parents=True, exist_ok=True)
    (root / "calc.py").write_text('def add(a, b):\n    """Adds two numbers."""\n    return a + b\n')
    (root / "README.md").write_text("# calc\nA tiny calculator module.\n")
    return root


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--dir", type=Path, help="the project to work on (default: a sample in a temp folder)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.dir or sample_project(Path(tmp))
        (directory / "generated").mkdir(exist_ok=True)
        task = TaskSpec(task_id="T-1", description="Add a test file test_calc.py with a test for add().")
        result = await FlowRunner(build_flow(directory, task)).run()
        print(f"flow: {result.execution_status.value}")
        for node_id, node_result in result.results.items():
            line = f"  {node_id}: {node_result.execution_status.value}"
            if node_result.error is not None:
                line += f" ({node_result.error.message})"
            print(line)
        generated = result.get_result("code_generator")
        if (
            generated is not None
            and generated.outcome is not None
            and generated.outcome.structured is not None
        ):
            print(f"summary: {generated.outcome.structured.summary}")
        ops = result.get_result("code_generator_file_ops")
        if ops is not None and ops.outcome is not None:
            for path in ops.outcome.files:
                written = directory / "generated" / path
                print(f"--- generated/{path}\n{written.read_text() if written.is_file() else ''}")
        return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
