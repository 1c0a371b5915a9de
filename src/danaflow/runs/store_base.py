"""The RunStore interface and its records: runs, component results and leases.

Every backend (memory, SQLite, PostgreSQL) implements this one base and passes the same tests
(tests/runs/test_store.py). It stands apart from ``store.py``, which picks a backend from a URL,
so the backends can import the base without importing each other.

Leases make "a component runs once" hold across processes: a process claims a component before
running it, renews the claim while it runs and releases it after the result is stored. A claim
expires ``ttl_s`` seconds after it was taken or renewed, so a dead process's components are taken
over; a component whose row is final (anything but ``running``) is never claimed again.

The result cache (``cache_get``/``cache_put``/``cache_clear``) keeps node results by key across
runs, so a node with a CachePolicy whose key matches reuses one instead of executing; it sits in
the store so that a shared store shares it. Entries outlive the runs that made them.
"""

from __future__ import annotations

import math
import os
import secrets
import socket
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from danaflow.errors import RunError

__all__ = ["CacheEntry", "ComponentRecord", "Lease", "RunRecord", "RunStore", "lease_owner", "redact_url"]


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run: what ran, from which code and inputs, and where it stands."""

    run_id: str
    root_component_id: str
    status: str
    """``running``, ``completed``, ``failed`` or ``waiting_input``."""
    created_at: float
    updated_at: float
    code_fingerprint: str | None = None
    """A hash of the code that defined the run (the target's source files, its component paths)."""
    inputs_hash: str | None = None
    """A hash of the canonical JSON of the run's inputs (static inputs, node inputs, initial state)."""
    previous_run_id: str | None = None
    """The run this one resumed, if any."""
    start_path: str | None = None
    """The ``start_hierarchy_path`` of a resume."""
    run_dir: str | None = None
    pid: int | None = None
    """The process that ran it; a ``running`` run whose process is gone was interrupted."""
    host: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ComponentRecord:
    """One component of one run: its latest status and, once final, its result as JSON text."""

    run_id: str
    path: str
    status: str
    seq: int = 0
    """Start order within the run; resume-from-path reuses what started before the path."""
    kind: str | None = None
    component_id: str | None = None
    result: str | None = None
    """``NodeExecutionResult`` as JSON (``model_dump_json``), or None while it runs."""
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    attempt: int = 1
    reused: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


@dataclass(frozen=True, slots=True)
class Lease:
    """A process's claim on one component of one run."""

    run_id: str
    path: str
    owner: str
    """Who holds it: any string unique to the claiming process (``lease_owner()`` makes one)."""
    expires_at: float
    """Seconds since the epoch, on the store's clock (the database server's, for PostgreSQL)."""


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One cached node result, kept by key across runs (``danaflow.flow.policies.CachePolicy``)."""

    key: str
    """The node's cache key: a hex digest of its code and everything it reads."""
    path: str
    """The component path that produced it."""
    run_id: str
    """The run that produced it (a hit says it came from there)."""
    result: str
    """The ``NodeExecutionResult`` as JSON."""
    created_at: float
    """Seconds since the epoch, on the clock of the CachePolicy that stored it (TTLs read it)."""
    effects: str | None = None
    """A JSON object of the scope writes a hit replays (``{"public:x": 1}``), or None."""


def lease_owner() -> str:
    """An owner name unique to this process: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class RunStore(ABC):
    """The store interface; every implementation passes the same tests (tests/runs/test_store.py)."""

    @abstractmethod
    def create_run(self, record: RunRecord) -> None:
        """Adds a run; RunError if the id exists."""

    @abstractmethod
    def update_run(self, run_id: str, *, status: str | None = None, **fields: Any) -> None:
        """Updates a run's status and other columns (``meta`` replaces the whole dict)."""

    @abstractmethod
    def get_run(self, run_id: str) -> RunRecord | None: ...

    @abstractmethod
    def list_runs(self, limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first."""

    @abstractmethod
    def delete_run(self, run_id: str) -> bool:
        """Removes a run, its components and its leases; False if there was no such run."""

    @abstractmethod
    def start_component(
        self,
        run_id: str,
        path: str,
        *,
        seq: int,
        kind: str | None = None,
        component_id: str | None = None,
        started_at: float | None = None,
        attempt: int | None = None,
    ) -> int:
        """Marks a component running (one transaction); returns its attempt number in this run.

        Without ``attempt`` the store counts: 1, or one more than the row's attempt. A caller that
        counts its own starts (the only writer of its run) passes ``attempt`` and gets it back;
        the store then needs no answer, so PostgreSQL sends the row without waiting for it, and
        an error surfaces from the next checkpoint call instead. A row that is already final at
        ``attempt`` or later is left as it is: that finish was written first, on another
        connection, and a late start must not turn it back into ``running``. A start row that
        never arrives is harmless: resume re-runs a component without a final row either way.
        """

    @abstractmethod
    def finish_component(self, record: ComponentRecord) -> None:
        """Checkpoints one component's final (or waiting_input) record in one transaction."""

    @abstractmethod
    def put_components(self, records: Sequence[ComponentRecord]) -> None:
        """Writes several records in one transaction (reused subtrees copied into a resumed run)."""

    @abstractmethod
    def get_component(self, run_id: str, path: str) -> ComponentRecord | None: ...

    @abstractmethod
    def list_components(self, run_id: str) -> list[ComponentRecord]:
        """A run's components in start order."""

    # ---- leases ----------------------------------------------------------------------------------
    @abstractmethod
    def claim_component(self, run_id: str, path: str, owner: str, ttl_s: float) -> bool:
        """Claims the component at ``path`` for ``owner`` for ``ttl_s`` seconds, atomically.

        True when nobody holds it, its lease expired, or ``owner`` already holds it (the claim is
        then renewed); False when another owner's lease is live or the component's row is final
        (any status but ``running``: it already ran in this run). RunError for an unknown run.
        """

    @abstractmethod
    def renew_lease(self, run_id: str, path: str, owner: str, ttl_s: float) -> bool:
        """Extends ``owner``'s lease to ``ttl_s`` seconds from now; False if ``owner`` lost it."""

    @abstractmethod
    def release(self, run_id: str, path: str, owner: str) -> bool:
        """Drops ``owner``'s lease (after the component's result is stored); False if not held."""

    @abstractmethod
    def get_lease(self, run_id: str, path: str) -> Lease | None:
        """The lease on a component, live or expired, or None."""

    # ---- result cache ----------------------------------------------------------------------------
    @abstractmethod
    def cache_get(self, key: str) -> CacheEntry | None:
        """The entry stored under ``key``, however old (the reader's TTL decides), or None."""

    @abstractmethod
    def cache_put(self, entry: CacheEntry) -> None:
        """Stores ``entry`` under its key in one transaction, replacing any older one."""

    @abstractmethod
    def cache_clear(self, path: str | None = None) -> int:
        """Removes every entry, or those made by the component ``path`` and its descendants
        (``flow.loop`` clears ``flow.loop.0.body`` too); returns how many went."""

    def close(self) -> None:  # noqa: B027 - optional for stores that hold nothing open
        """Releases connections; the store is unusable afterwards."""

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and reprs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def missing_run(run_id: str) -> RunError:
    return RunError(f"unknown run {run_id!r}: want the id of a run in this store", path=run_id)


def duplicate_run(run_id: str) -> RunError:
    return RunError(f"run {run_id!r} already exists: want a new run id", path=run_id)


def under_path(entry_path: str, path: str | None) -> bool:
    """Whether ``cache_clear(path)`` removes an entry made at ``entry_path``."""
    return path is None or entry_path == path or entry_path.startswith(path + ".")


def keeps_final_row(previous: ComponentRecord | None, attempt: int) -> bool:
    """Whether a start at ``attempt`` leaves ``previous`` alone: it is final at that attempt or later."""
    return previous is not None and previous.status != "running" and previous.attempt >= attempt


def check_attempt(path: str, attempt: int) -> None:
    """RunError for an attempt number that is not a positive int."""
    if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
        raise RunError(f"bad attempt {attempt!r}: want a positive int", path=path)


def check_lease_args(path: str, owner: str, ttl_s: float | None = None) -> None:
    """RunError for an empty owner or a ttl that is not a positive, finite number of seconds."""
    if not isinstance(owner, str) or not owner:
        raise RunError(f"bad lease owner {owner!r}: want a non-empty string", path=path)
    if ttl_s is None:
        return
    number = isinstance(ttl_s, int | float) and not isinstance(ttl_s, bool)
    if not number or not math.isfinite(ttl_s) or ttl_s <= 0:
        raise RunError(f"bad lease ttl {ttl_s!r}: want a positive number of seconds", path=path)
