"""Which model to talk to: model specs, where they are configured, and the provider each one makes.

A spec is ``kind:rest``: ``openai:gpt-4o-mini``, ``openai-compatible:http://host/v1#model``,
``ollama:llama3.2``, ``anthropic:claude-…`` (or ``anthropic:http://host#model``), ``local:smollm2``.
The spec comes from code, else ``DANAFLOW_LLM``, else ``llm = "…"`` in ``./danaflow.toml`` or
``~/.config/danaflow/config.toml``, else the embedded model. API keys come only from the
environment, and a missing one is a ConfigurationError naming the variable.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from danaflow.errors import ConfigurationError

from .provider import Provider

__all__ = [
    "DEFAULT_SPEC",
    "ENV_VAR",
    "ModelSpec",
    "config_paths",
    "configured_spec",
    "parse_spec",
    "resolve_provider",
]

ENV_VAR = "DANAFLOW_LLM"
DEFAULT_SPEC = "local:smollm2"
KINDS = ("openai", "openai-compatible", "ollama", "anthropic", "local")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A parsed model spec."""

    kind: str
    """One of 'openai', 'openai-compatible', 'ollama', 'anthropic', 'local'."""
    model: str
    base_url: str | None = None
    text: str = ""
    """The spec as written, for messages."""

    def __str__(self) -> str:
        return self.text or f"{self.kind}:{self.model}"


def parse_spec(spec: str) -> ModelSpec:
    """Parses ``kind:rest``; a bad spec is a ConfigurationError that shows the accepted forms."""
    text = spec.strip()
    kind, sep, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind == "local" and not sep:
        return ModelSpec("local", "smollm2", text=text)
    if not sep or kind not in KINDS:
        raise ConfigurationError(
            f"bad model spec {spec!r}: want one of openai:MODEL, openai-compatible:URL#MODEL, "
            "ollama:MODEL, anthropic:MODEL, local:smollm2"
        )
    rest = rest.strip()
    if kind in ("openai-compatible", "anthropic") and rest.startswith(("http://", "https://")):
        url, hashmark, model = rest.partition("#")
        if not hashmark or not model:
            raise ConfigurationError(f"bad model spec {spec!r}: got no model name, want {kind}:URL#MODEL")
        return ModelSpec(kind, model, url.rstrip("/"), text=text)
    if kind == "openai-compatible":
        raise ConfigurationError(
            f"bad model spec {spec!r}: got no server URL, want openai-compatible:URL#MODEL"
        )
    if not rest:
        raise ConfigurationError(f"bad model spec {spec!r}: got no model name, want {kind}:MODEL")
    if kind == "ollama":
        host = os.environ.get("OLLAMA_HOST", "http://127.0.0.1:11434")
        if not host.startswith(("http://", "https://")):
            host = f"http://{host}"
        return ModelSpec(kind, rest, f"{host.rstrip('/')}/v1", text=text)
    if kind == "local" and rest.lower() not in ("smollm2", "smollm2-135m", "smollm2-135m-instruct"):
        raise ConfigurationError(f"unknown embedded model {rest!r}: want local:smollm2")
    return ModelSpec(kind, rest, text=text)


def config_paths() -> list[Path]:
    """The config files read, in order: ./danaflow.toml, then the user's config.toml."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [Path.cwd() / "danaflow.toml", Path(base) / "danaflow" / "config.toml"]


def _checked(spec: str, source: str) -> tuple[str, str]:
    """``(spec, source)`` once the spec parses; a bad one says where it was configured."""
    try:
        parse_spec(spec)
    except ConfigurationError as exc:
        where = f"{ENV_VAR}={spec!r}" if source == ENV_VAR else f"{source}: llm = {spec!r}"
        raise ConfigurationError(f"{where}: {exc.message}") from None
    return spec, source


def configured_spec() -> tuple[str, str]:
    """The model spec in force and where it came from ('DANAFLOW_LLM', a file path, or 'default').

    The spec is checked here, where its source is known: a bad one is a ConfigurationError that
    names the variable or the config file it came from.
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return _checked(env, ENV_VAR)
    for path in config_paths():
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"cannot read {path}: {exc}") from exc
        value = data.get("llm")
        if isinstance(value, dict):
            value = value.get("model")
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError(f"{path}: got llm = {value!r}, want a model spec string")
        return _checked(value.strip(), str(path))
    return DEFAULT_SPEC, "default"


def _key(var: str, spec: ModelSpec) -> str:
    key = os.environ.get(var, "").strip()
    if not key:
        raise ConfigurationError(
            f"{var} is not set: want an API key in the environment for {spec} "
            f"(export {var}=… or pick another model with {ENV_VAR})"
        )
    return key


def resolve_provider(spec: str | ModelSpec | None = None, *, timeout: float = 60.0) -> Provider:
    """The Provider for a spec (None: the configured one). Builds clients lazily; never calls out."""
    if spec is None:
        spec = configured_spec()[0]
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    if parsed.kind == "openai":
        from .openai_compat import OpenAICompatProvider

        return OpenAICompatProvider(
            parsed.model,
            base_url=os.environ.get("OPENAI_BASE_URL") or None,
            api_key=_key("OPENAI_API_KEY", parsed),
            name="openai",
            timeout=timeout,
        )
    if parsed.kind in ("openai-compatible", "ollama"):
        from .openai_compat import OpenAICompatProvider

        # Deliberately not OPENAI_API_KEY: a local server should not receive an OpenAI key.
        return OpenAICompatProvider(
            parsed.model,
            base_url=parsed.base_url,
            api_key=os.environ.get("DANAFLOW_LLM_API_KEY") or None,
            name=parsed.kind,
            timeout=timeout,
        )
    if parsed.kind == "anthropic":
        from .anthropic import AnthropicProvider

        if parsed.base_url:
            key = os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("DANAFLOW_LLM_API_KEY") or None
        else:
            key = _key("ANTHROPIC_API_KEY", parsed)
        return AnthropicProvider(parsed.model, base_url=parsed.base_url, api_key=key, timeout=timeout)
    from .local import LocalProvider

    return LocalProvider(parsed.model)
