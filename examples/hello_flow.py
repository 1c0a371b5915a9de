"""A small flow for `danaflow run examples/hello_flow.py:flow`: a command, a Dana node and an LLM.

Each node's result is stored in the run directory and the SQLite run index, so
`danaflow runs show RUN_ID` lists them and `danaflow resume RUN_ID --from hello.summary` re-runs
the last node reusing the first two.
"""

from __future__ import annotations

from danaflow import (
    AIModelNode,
    AIModelNodeSettings,
    CommandNode,
    CommandNodeSettings,
    DanaNode,
    FlowDefinition,
    Prompt,
)

flow = FlowDefinition("hello")
flow.vars({"topic": "the four Dana scopes"})
flow.node("facts", CommandNode(settings=CommandNodeSettings(commands=["python3 --version", "uname -s"])))
flow.node(
    "count",
    DanaNode(
        program=(
            'public:scopes = ["local", "private", "public", "system"]\n'
            'print(f"{len(public:scopes)} scopes")\n'
            "len(public:scopes)\n"
        )
    ),
)
flow.node(
    "summary",
    AIModelNode(
        settings=AIModelNodeSettings(
            prompt=Prompt.with_dad_text(
                text="In one sentence, explain $var{topic} ($hier{count.outcome.value} of them)."
            )
        )
    ),
)
