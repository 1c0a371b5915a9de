"""Provenance: the fingerprints that say which code and which inputs produced a run.

A run record keeps a hash of the code (the source files of its target plus the component paths
its definition declares) and a hash of its inputs (canonical JSON), so two runs can be compared
and a resume over changed code can say so. The hashes are cheap and never block a run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["code_fingerprint", "inputs_hash", "run_id_for"]


def code_fingerprint(files: Iterable[Path] = (), component_paths: Iterable[str] = ()) -> str:
    """A sha256 over the given source files (name and bytes) and the sorted component paths."""
    digest = hashlib.sha256()
    for file in sorted({Path(f) for f in files}):
        digest.update(b"file\0" + file.name.encode() + b"\0")
        try:
            digest.update(file.read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
    for path in sorted(set(component_paths)):
        digest.update(b"path\0" + path.encode() + b"\0")
    return "sha256:" + digest.hexdigest()


def inputs_hash(inputs: Mapping[str, Any]) -> str:
    """A sha256 of the canonical JSON of ``inputs`` (sorted keys, values that are not JSON as repr)."""
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=repr)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def run_id_for(prefix: str, when: Any, suffix: str) -> str:
    """``prefix_YYYYmmdd_HHMMSS_suffix``; the prefix keeps only letters, digits, ``-`` and ``_``."""
    clean = "".join(c if c.isalnum() or c in "-_" else "_" for c in prefix) or "run"
    return f"{clean}_{when:%Y%m%d_%H%M%S}_{suffix}"
