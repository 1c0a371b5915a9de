"""The response cache: the same request to the same model gets the same answer, without a call.

Keys hash (provider, model, messages, schema, tools, options), so a changed prompt, type or temperature
misses. In memory it is a bounded LRU; given a path it also appends every new entry to a JSON
Lines file and reloads it, which makes a run replayable offline and deterministic. Streams are not
cached.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from .provider import LLMRequest, LLMResponse, ToolCall, Usage

__all__ = ["ResponseCache", "cache_key"]


def cache_key(provider: str, model: str, request: LLMRequest) -> str:
    """A stable hex digest of everything that can change a model's answer."""
    payload = {
        "provider": provider,
        "model": model,
        "messages": list(request.messages),
        "schema": request.schema,
        "choices": list(request.choices) if request.choices else None,
        "options": {"temperature": request.temperature, "max_tokens": request.max_tokens},
    }
    if request.tools:  # only then, so the keys of caches written before tool calling still match
        payload["tools"] = [[t.name, t.description, t.parameters] for t in request.tools]
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    """A thread-safe LRU of responses, optionally persisted to a JSON Lines file at ``path``."""

    def __init__(self, path: str | Path | None = None, *, max_entries: int = 10_000):
        self.path = Path(path) if path is not None else None
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, LLMResponse] = OrderedDict()
        self._lock = threading.Lock()
        if self.path is not None and self.path.exists():
            self._load(self.path)

    def __repr__(self) -> str:
        where = f", path={str(self.path)!r}" if self.path else ""
        return f"ResponseCache({len(self)} entries{where})"

    def __len__(self) -> int:
        return len(self._entries)

    def _load(self, path: Path) -> None:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                usage = Usage(**row.get("usage", {}))
                calls = tuple(ToolCall(**c) for c in row.get("tool_calls", ()))
                self._entries[row["key"]] = LLMResponse(
                    row["text"], usage, row.get("model", ""), tool_calls=calls
                )
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line from a crash: the entry is simply not cached

    def get(self, key: str) -> LLMResponse | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return hit

    def put(self, key: str, response: LLMResponse) -> None:
        stored = LLMResponse(response.text, response.usage, response.model, tool_calls=response.tool_calls)
        with self._lock:
            self._entries[key] = stored
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            if self.path is not None:
                self._append(key, stored)

    def _append(self, key: str, response: LLMResponse) -> None:
        row: dict[str, Any] = {
            "key": key,
            "text": response.text,
            "model": response.model,
            "usage": {
                "prompt_tokens": response.usage.prompt_tokens,
                "completion_tokens": response.usage.completion_tokens,
            },
        }
        if response.tool_calls:
            row["tool_calls"] = [
                {"id": c.id, "name": c.name, "arguments": c.arguments, "error": c.error}
                for c in response.tool_calls
            ]
        self.path.parent.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
        with self.path.open("a", encoding="utf-8") as f:  # type: ignore[union-attr]
            f.write(json.dumps(row) + "\n")

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0
