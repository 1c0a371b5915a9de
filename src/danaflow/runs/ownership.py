"""RunOwnership: one live process owns a run, so two resumers never run one component twice.

Every durable run takes a lease on itself (the store's lease table, path ``OWNER_PATH``) when it
is set up, renews it from a heartbeat thread while it lives and releases it when it finishes. A
``kill -9`` stops the heartbeat, so the lease expires ``ttl_s`` seconds later; on the same host a
lease whose process is gone is taken over at once.

Resuming run P claims P's lease first, so:

- while P's own process (or another resumer of P) lives, a resume is refused, naming the owner;
- a plain resume (no start path) follows P's successors: if P was already resumed as R (which
  finished, or whose process died), it resumes R instead. What R completed is reused; nothing
  completed anywhere in the chain runs again. ``resume --from PATH`` means "run PATH again" and
  does not follow.

The claim on P is held until the new run's own lease is taken, then released: a later resumer of
P follows to the new run and finds it owned. A component that was running when its process died
runs again (it never finished); that is the one re-execution a crash costs.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING

from danaflow.errors import RunError

from .store import RunStore, lease_owner

if TYPE_CHECKING:
    from .store import RunRecord

__all__ = ["DEFAULT_LEASE_TTL_S", "OWNER_PATH", "RunOwnership", "process_is_gone"]

_log = logging.getLogger("danaflow.runs")

OWNER_PATH = "~run"
"""The lease path of a run's owner (no component path starts with ``~``)."""
DEFAULT_LEASE_TTL_S = 30.0
_MAX_CHAIN = 1000


class RunOwnership:
    """Claims, renews and releases the ownership leases of one process's run."""

    def __init__(self, store: RunStore, ttl_s: float = DEFAULT_LEASE_TTL_S):
        self.store = store
        self.ttl_s = float(ttl_s)
        self.owner = lease_owner()
        self._held: list[str] = []
        self._run_id: str | None = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    # ---- resuming ----------------------------------------------------------------------------
    def claim_for_resume(self, run_id: str, *, follow: bool) -> list[str]:
        """Claims ``run_id`` (and, with ``follow``, each successor after it) and returns the
        resume chain, oldest first: ``[run_id]``, or ``run_id`` and the runs that resumed it; the
        last one is the run to resume. RunError when a live process owns one of them."""
        chain = [run_id]
        for _ in range(_MAX_CHAIN):
            self._claim(chain[-1])
            if not follow:
                return chain
            successor = self._successor(chain[-1])
            if successor is None:
                return chain
            _log.info("run %s was resumed as %s: resuming that run", chain[-1], successor.run_id)
            chain.append(successor.run_id)
        raise RunError(f"run {run_id!r}: its resume chain is longer than {_MAX_CHAIN} runs")

    def _successor(self, run_id: str) -> RunRecord | None:
        """The latest run made by resuming ``run_id`` without a start path, if any."""
        later = [r for r in self.store.list_runs() if r.previous_run_id == run_id and not r.start_path]
        return max(later, key=lambda r: r.created_at) if later else None

    def _claim(self, run_id: str) -> None:
        store, ttl = self.store, self.ttl_s
        if store.claim_component(run_id, OWNER_PATH, self.owner, ttl):
            self._held.append(run_id)
            return
        lease = store.get_lease(run_id, OWNER_PATH)
        if lease is not None and _owner_is_gone(lease.owner):
            # A process of this host that died without releasing: its lease is stale now, not
            # in ``ttl_s`` seconds. Only its own owner name may renew it; renew, then take over.
            if store.claim_component(run_id, OWNER_PATH, lease.owner, ttl):
                store.release(run_id, OWNER_PATH, lease.owner)
                if store.claim_component(run_id, OWNER_PATH, self.owner, ttl):
                    self._held.append(run_id)
                    return
            lease = store.get_lease(run_id, OWNER_PATH)
        left = max(0.0, lease.expires_at - time.time()) if lease is not None else 0.0
        who = lease.owner if lease is not None else "another process"
        if lease is not None and lease.owner.split(":")[1:2] == [str(os.getpid())]:
            raise RunError(
                f"run {run_id!r} is owned by a live process ({who}: this one — a RunContext that "
                "never finished or closed): want its close() before resuming it here"
            )
        raise RunError(
            f"run {run_id!r} is owned by a live process ({who}; its lease runs {left:.0f}s more "
            "unless renewed): want to wait until it finishes, or resume it once that process is gone"
        )

    # ---- owning the new run ------------------------------------------------------------------
    def own(self, run_id: str) -> None:
        """Takes the lease on this process's new run, releases the runs it resumed from, and
        starts the heartbeat that keeps the lease while the run lives."""
        if not self.store.claim_component(run_id, OWNER_PATH, self.owner, self.ttl_s):
            raise RunError(f"run {run_id!r} is owned by another process")
        self._run_id = run_id
        for held in self._held:
            self.store.release(held, OWNER_PATH, self.owner)
        self._held.clear()
        self._heartbeat = threading.Thread(target=self._beat, name=f"danaflow-lease-{run_id}", daemon=True)
        self._heartbeat.start()

    def _beat(self) -> None:
        run_id = self._run_id
        assert run_id is not None
        while not self._stop.wait(self.ttl_s / 3):
            try:
                if not self.store.renew_lease(run_id, OWNER_PATH, self.owner, self.ttl_s):
                    _log.error("run %s: this process lost its lease (another process took it over)", run_id)
                    return
            except Exception as exc:  # a store that went away: the lease lapses, which is the truth
                _log.warning("run %s: renewing the lease failed: %s", run_id, exc)

    def release(self) -> None:
        """Stops the heartbeat and releases every lease this process holds (idempotent)."""
        self._stop.set()
        beat, self._heartbeat = self._heartbeat, None
        if beat is not None and beat is not threading.current_thread():
            beat.join(timeout=5)
        for held in [*self._held, *([self._run_id] if self._run_id else [])]:
            try:
                self.store.release(held, OWNER_PATH, self.owner)
            except Exception as exc:  # closing must not fail over a lease that lapses anyway
                _log.debug("run %s: releasing the lease failed: %s", held, exc)
        self._held.clear()
        self._run_id = None


def _owner_is_gone(owner: str) -> bool:
    """Whether a ``host:pid:token`` owner names a process of this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    return pid_text.isdigit() and int(pid_text) != os.getpid() and process_is_gone(host, int(pid_text))


def process_is_gone(host: str | None, pid: int) -> bool:
    """Whether ``pid`` on ``host`` is known to have ended: only a process of this host can be
    asked (another host's, or one we may not signal, counts as alive); a zombie has ended."""
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False
