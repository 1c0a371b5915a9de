"""Model selection: specs, DANAFLOW_LLM, config files, keys from the environment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from danaflow.errors import ConfigurationError
from danaflow.llm import LLMResource, default_llm, parse_spec, resolve_provider
from danaflow.llm.config import configured_spec


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No model configured anywhere: empty cwd, empty user config dir, no keys."""
    for var in ("DANAFLOW_LLM", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OLLAMA_HOST", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path


@pytest.mark.parametrize(
    ("spec", "kind", "model", "base_url"),
    [
        ("openai:gpt-4o-mini", "openai", "gpt-4o-mini", None),
        (
            "openai-compatible:http://127.0.0.1:11434/v1#llama3.2",
            "openai-compatible",
            "llama3.2",
            "http://127.0.0.1:11434/v1",
        ),
        ("ollama:llama3.2", "ollama", "llama3.2", "http://127.0.0.1:11434/v1"),
        ("anthropic:claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", None),
        ("anthropic:http://127.0.0.1:9/#claude-x", "anthropic", "claude-x", "http://127.0.0.1:9"),
        ("local:smollm2", "local", "smollm2", None),
        ("local", "local", "smollm2", None),
    ],
)
def test_parse_spec(clean_env, spec, kind, model, base_url):
    parsed = parse_spec(spec)
    assert (parsed.kind, parsed.model, parsed.base_url) == (kind, model, base_url)
    assert str(parsed) == spec


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("gpt-4o", "want one of openai:MODEL"),
        ("bogus:thing", "want one of openai:MODEL"),
        ("openai:", "got no model name"),
        ("openai-compatible:http://host/v1", "got no model name, want openai-compatible:URL#MODEL"),
        ("openai-compatible:llama3", "got no server URL"),
        ("local:gpt-5", "want local:smollm2"),
    ],
)
def test_bad_specs_say_what_is_wanted(spec, message):
    with pytest.raises(ConfigurationError, match=message):
        parse_spec(spec)


def test_ollama_host_is_honored(clean_env, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "gpu-box:11434")
    assert parse_spec("ollama:qwen").base_url == "http://gpu-box:11434/v1"


def test_default_is_the_embedded_model(clean_env):
    assert configured_spec() == ("local:smollm2", "default")


def test_env_beats_config_file(clean_env, monkeypatch):
    (clean_env / "danaflow.toml").write_text('llm = "openai:gpt-4o-mini"\n')
    assert configured_spec() == ("openai:gpt-4o-mini", str(clean_env / "danaflow.toml"))
    monkeypatch.setenv("DANAFLOW_LLM", "ollama:llama3.2")
    assert configured_spec() == ("ollama:llama3.2", "DANAFLOW_LLM")


def test_user_config_file_and_table_form(clean_env):
    path = clean_env / "xdg" / "danaflow" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('[llm]\nmodel = "anthropic:claude-x"\n')
    assert configured_spec() == ("anthropic:claude-x", str(path))


def test_bad_config_value_is_an_error_naming_the_file(clean_env):
    (clean_env / "danaflow.toml").write_text("llm = 3\n")
    with pytest.raises(ConfigurationError, match=r"danaflow.toml: got llm = 3, want a model spec string"):
        configured_spec()


def test_missing_openai_key_names_the_variable_on_first_call_not_construction(clean_env):
    llm = LLMResource(model="openai:gpt-4o-mini")  # constructing never fails for a missing key
    with pytest.raises(ConfigurationError, match=r"OPENAI_API_KEY is not set.*openai:gpt-4o-mini"):
        llm.reason("hello")


def test_missing_anthropic_key_names_the_variable(clean_env):
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY is not set"):
        resolve_provider("anthropic:claude-x")


def test_keys_come_from_the_environment(clean_env, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    provider = resolve_provider("openai:gpt-4o-mini")
    assert (provider.name, provider.model, provider.base_url) == ("openai", "gpt-4o-mini", None)


def test_danaflow_llm_selects_the_fake_server(clean_env, monkeypatch, fake_llm):
    monkeypatch.setenv("DANAFLOW_LLM", fake_llm.spec)
    fake_llm.reply("from the env")
    llm = LLMResource()
    assert llm.reason("hi") == "from the env"
    assert llm.model == fake_llm.spec
    assert default_llm() is default_llm()
    assert default_llm().model == fake_llm.spec


def test_importing_the_layer_and_constructing_a_resource_stays_light(clean_env):
    code = (
        "import sys, danaflow.llm as l; r = l.LLMResource(); repr(r); "
        "print(sorted(m for m in ('torch', 'transformers', 'openai', 'anthropic') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"
