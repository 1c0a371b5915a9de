"""Worker processes for untrusted Dana: a warm pool forked from a zygote, or one cold worker.

The zygote is a fresh interpreter started with a clean environment (no API keys: it is never a
fork of the host, whose memory holds clients and secrets) that imports the runtime once and then
forks a worker per request, so a job waits for a message exchange, not for Python to start. The
pool keeps ``spare`` forked workers ready. Each worker runs exactly one job and exits, so nothing
one program did can be seen by the next. A one-shot command (``danaflow run FILE.na``) asks for a
``cold`` worker instead: started directly, it costs an interpreter start but no zygote.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections import deque
from dataclasses import dataclass, field

from danaflow.errors import DanaflowError

from .codec import Codec
from .confine import clean_environment
from .exchange import ChannelClosed, recv_message

__all__ = ["Worker", "WorkerPool", "default_pool"]

_PRELOAD = [
    "danaflow.lang.worker",
    "danaflow.lang.runtime",
    "danaflow.lang.structs",
    "danaflow.lang.codec",
    "danaflow.lang.exchange",
    "danaflow.lang.confine",
    "danaflow.lang.limits",
    "danaflow.lang.report",
    "pydantic",
    "math",
    "json",
    "re",
    "datetime",
    "random",
    "statistics",
    "itertools",
    "functools",
    "collections",
]
_HELLO_TIMEOUT = 30.0


@dataclass
class Worker:
    """One forked worker, ready for its single job."""

    pid: int
    sock: socket.socket
    diag: int
    """The read end of the worker's stderr, where faulthandler writes if it crashes."""
    workdir: str
    process: subprocess.Popen | None = None
    """Set for a cold worker (the pool's own child); a forked one is the zygote's child."""
    killed: bool = field(default=False)

    def kill(self) -> None:
        self.killed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGKILL)

    def diagnostics(self, limit: int = 65536) -> str:
        """What the worker wrote to stderr (a crash or stuck-traceback report), non-blocking."""
        os.set_blocking(self.diag, False)
        chunks, size = [], 0
        while size < limit:
            try:
                chunk = os.read(self.diag, limit - size)
            except BlockingIOError:
                break
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks).decode("utf-8", "replace")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(OSError):
            os.close(self.diag)
        if self.process is not None:
            with contextlib.suppress(Exception):
                self.process.wait(timeout=5)
        try:
            os.rmdir(self.workdir)  # the common case: the program wrote nothing
        except OSError:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _hello(sock: socket.socket, what: str) -> tuple[int, str]:
    import time

    try:
        msg = recv_message(sock, Codec(lambda n, f: None), time.monotonic() + _HELLO_TIMEOUT)
    except (ChannelClosed, TimeoutError, OSError) as exc:
        raise DanaflowError(f"the Dana worker process did not start ({what}): {exc}") from None
    if msg.get("op") != "hello":
        raise DanaflowError(f"the Dana worker process did not start ({what}): unexpected message")
    return int(msg["pid"]), str(msg["workdir"])


class WorkerPool:
    """Hands out ready workers; thread-safe. ``spare`` workers are kept forked ahead of demand."""

    def __init__(self, *, spare: int = 2):
        self.spare = spare
        self._lock = threading.Lock()
        self._ready: deque[Worker] = deque()
        self._zygote: subprocess.Popen | None = None
        self._control: socket.socket | None = None
        self._base = tempfile.mkdtemp(prefix="danaflow-workers-")
        self._filling = False
        self._closed = False

    # ---- processes --------------------------------------------------------------------------------
    def _spawn(self, mode: str, config: dict, pass_fds: list[int]) -> subprocess.Popen:
        """A fresh ``python -I -m danaflow.lang.worker MODE`` with a clean environment."""
        config = {"sys_path": [p for p in sys.path if p], "base": self._base, **config}
        return subprocess.Popen(
            [sys.executable, "-I", "-m", "danaflow.lang.worker", mode, json.dumps(config)],
            pass_fds=pass_fds,
            env=clean_environment(self._base),
            cwd=self._base,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _start_zygote(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        config = {"control_fd": child.fileno(), "preload": _PRELOAD}
        self._zygote = self._spawn("zygote", config, [child.fileno()])
        child.close()
        parent.settimeout(_HELLO_TIMEOUT)
        try:
            ready = parent.recv(1)
        except OSError:
            ready = b""
        parent.settimeout(None)
        if ready != b"R":
            self._zygote.kill()
            raise DanaflowError("the Dana worker zygote did not start")
        self._control = parent

    def _fork(self) -> Worker:
        """One worker from the zygote (starting it first if needed). Holds ``_lock``: a job
        waits for a fork in progress rather than overlap with it (on two cores, overlapping the
        fork's page copies with the job's exchange made both slower)."""
        if self._zygote is None or self._zygote.poll() is not None:
            self._start_zygote()
        assert self._control is not None
        host_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        diag_r, diag_w = os.pipe()
        try:
            socket.send_fds(self._control, [b"F"], [child_end.fileno(), diag_w])
        except OSError:
            self._zygote = None
            host_end.close()
            os.close(diag_r)
            raise
        finally:
            child_end.close()
            os.close(diag_w)
        pid, workdir = _hello(host_end, "forked")
        return Worker(pid, host_end, diag_r, workdir)

    def cold(self, *, os_confinement: bool = True) -> Worker:
        """A worker started directly (no zygote): for one-shot commands, and for a policy that
        turns OS confinement off (the pool's workers confine themselves before any job)."""
        host_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        diag_r, diag_w = os.pipe()
        config = {"channel_fd": child_end.fileno(), "diag_fd": diag_w, "os_confinement": os_confinement}
        process = self._spawn("single", config, [child_end.fileno(), diag_w])
        child_end.close()
        os.close(diag_w)
        pid, workdir = _hello(host_end, "cold")
        return Worker(pid, host_end, diag_r, workdir, process)

    # ---- the pool ---------------------------------------------------------------------------------
    def acquire(self) -> Worker:
        """A ready worker; forks one now when none is waiting. Refills in the background."""
        with self._lock:
            if self._closed:
                raise DanaflowError("the Dana worker pool is shut down")
            worker = self._ready.popleft() if self._ready else self._fork()
            if not self._filling and len(self._ready) < self.spare:
                self._filling = True
                threading.Thread(target=self._fill, name="danaflow-worker-fill", daemon=True).start()
        return worker

    def _fill(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._closed or len(self._ready) >= self.spare:
                        return
                    try:
                        self._ready.append(self._fork())
                    except (DanaflowError, OSError):
                        return
        finally:
            with self._lock:
                self._filling = False

    def warm(self) -> None:
        """Starts the zygote and forks the spare workers now (start-up cost paid up front)."""
        with self._lock:
            while len(self._ready) < self.spare:
                self._ready.append(self._fork())

    @property
    def zygote_pid(self) -> int | None:
        return self._zygote.pid if self._zygote is not None else None

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            while self._ready:
                w = self._ready.popleft()
                w.kill()
                w.close()
            if self._control is not None:
                with contextlib.suppress(OSError):
                    self._control.close()
            if self._zygote is not None:
                with contextlib.suppress(Exception):
                    self._zygote.kill()
                    self._zygote.wait(timeout=5)
        shutil.rmtree(self._base, ignore_errors=True)


_DEFAULT: WorkerPool | None = None
_DEFAULT_LOCK = threading.Lock()


def default_pool() -> WorkerPool:
    """The process-wide pool (started on first use, shut down at exit)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = WorkerPool()
            atexit.register(_DEFAULT.shutdown)
        return _DEFAULT
