"""Category 10 of issue 9: the OS walls around a worker, for the day a program gets past the language.

A fresh interpreter confines itself with ``danaflow.lang.confine.confine`` exactly as a worker does
and then tries, as escaped Python would, to read and write the host's files, open sockets, fork,
run programs and signal other processes. Each must be refused by the kernel (Landlock for files
and signals, seccomp for sockets, fork and exec). A layer the kernel lacks is skipped, saying so.
Separately: the worker processes' environment holds none of the host's keys.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from danaflow.lang.compiler import compile_program
from danaflow.lang.confine import landlock_abi
from danaflow.lang.isolated import run_isolated
from danaflow.lang.policy import SandboxPolicy
from danaflow.lang.pool import WorkerPool
from danaflow.lang.sandbox import SandboxContext

ABI = landlock_abi()
X86_64 = sys.platform == "linux" and platform.machine() == "x86_64"

_CHILD = r"""
import json, os, socket, subprocess, sys, threading
from danaflow.lang.confine import confine

work, outside, secret = sys.argv[1:4]
info = confine(work, memory=512 << 20, cpu=30)
results = {"confinement": [info.landlock_abi, info.seccomp, info.notes]}

def attempt(name, fn):
    try:
        results[name] = ["ok", repr(fn())[:120]]
    except BaseException as exc:
        results[name] = [type(exc).__name__, str(exc)[:200]]

def fork():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    return pid

def thread():
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
    return "joined"

attempt("read /etc/passwd", lambda: open("/etc/passwd").read())
attempt("read the host's secret file", lambda: open(secret).read())
attempt("write outside the workdir", lambda: open(outside, "w").write("pwned"))
attempt("list a host directory", lambda: os.listdir(os.path.dirname(secret)))
attempt("symlink out and read", lambda: (os.symlink(secret, os.path.join(work, "l")),
                                        open(os.path.join(work, "l")).read()))
attempt("rename out of the workdir", lambda: (open(os.path.join(work, "f"), "w").write("x"),
                                             os.rename(os.path.join(work, "f"), outside + ".moved")))
attempt("read the parent's environ", lambda: open(f"/proc/{os.getppid()}/environ", "rb").read())
attempt("socket AF_INET", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
attempt("socket AF_UNIX", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
attempt("socketpair", lambda: socket.socketpair())
attempt("os.fork", fork)
attempt("subprocess", lambda: subprocess.run(["/bin/true"]))
attempt("os.execv", lambda: os.execv("/bin/sh", ["sh", "-c", "touch " + outside]))
attempt("kill the parent", lambda: os.kill(os.getppid(), 0))
attempt("kill init", lambda: os.kill(1, 0))
attempt("allocate past the memory cap", lambda: len(bytearray(1 << 30)))
attempt("write inside the workdir", lambda: open(os.path.join(work, "ok"), "w").write("fine"))
attempt("start a thread", thread)
print(json.dumps(results))
"""

# (operation, what refuses it, the exception wanted)
REFUSALS = [
    ("read /etc/passwd", "landlock", "PermissionError"),
    ("read the host's secret file", "landlock", "PermissionError"),
    ("write outside the workdir", "landlock", "PermissionError"),
    ("list a host directory", "landlock", "PermissionError"),
    ("symlink out and read", "landlock", "PermissionError"),
    ("rename out of the workdir", "landlock", "PermissionError"),
    ("read the parent's environ", "landlock", "PermissionError"),
    ("socket AF_INET", "seccomp", "PermissionError"),
    ("socket AF_UNIX", "seccomp", "PermissionError"),
    ("socketpair", "seccomp", "PermissionError"),
    ("os.fork", "seccomp", "PermissionError"),
    ("subprocess", "seccomp", "PermissionError"),
    ("os.execv", "seccomp", "PermissionError"),
    ("kill the parent", "landlock-signals", "PermissionError"),
    ("kill init", "landlock-signals", "PermissionError"),
    ("allocate past the memory cap", "rlimit", "MemoryError"),
]


def _skip_reason(layer: str) -> str | None:
    if layer == "landlock" and ABI == 0:
        return "the kernel offers no Landlock: files are confined by the language only"
    if layer == "landlock-signals" and ABI < 6:
        return f"Landlock ABI {ABI} has no signal scoping (ABI 6+): kill() is not confined here"
    if layer == "seccomp" and not X86_64:
        return f"the seccomp filter is built for x86_64 only, this is {platform.machine()}"
    return None


@pytest.fixture(scope="module")
def confined(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("confine")
    work = base / "work"
    work.mkdir()
    host = base / "host"
    host.mkdir()
    secret = host / "secret.env"
    secret.write_text("OPENAI_API_KEY=sk-secret-test\n")
    outside = host / "outside.txt"
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(work), str(outside), str(secret)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=work,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    results["outside exists"] = outside.exists() or Path(str(outside) + ".moved").exists()
    return results


@pytest.mark.parametrize(("operation", "layer", "exception"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_confined_process_is_refused(operation: str, layer: str, exception: str, confined: dict) -> None:
    reason = _skip_reason(layer)
    if reason is not None:
        pytest.skip(reason)
    got = confined[operation]
    assert got[0] == exception, f"{operation}: got {got}, want {exception}"
    assert not confined["outside exists"], "a file appeared outside the workdir"


def test_confinement_reports_its_layers_and_keeps_the_worker_usable(confined: dict) -> None:
    abi, seccomp, notes = confined["confinement"]
    assert abi == ABI
    assert seccomp is X86_64
    if ABI == 0:
        assert any("landlock unavailable" in n for n in notes)
    assert confined["write inside the workdir"][0] == "ok"
    assert confined["start a thread"] == ["ok", "'joined'"]


SECRETS = {
    "OPENAI_API_KEY": "sk-secret-test",
    "ANTHROPIC_API_KEY": "sk-ant-secret-test",
    "DANAFLOW_LLM": "openai-compatible:http://user:secret-test@127.0.0.1:9/v1#m",
    "GITHUB_TOKEN": "ghp_secret-test",
    "DATABASE_URL": "postgresql://app:secret-test@db/app",
    "AWS_SECRET_ACCESS_KEY": "secret-test-aws",
}


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode("utf-8", "replace").split("\0") if "=" in item)


def test_the_workers_environment_holds_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    pool = WorkerPool(spare=0)
    try:
        worker = pool.acquire()  # starts the zygote (after the keys were set) and forks a worker
        try:
            assert pool.zygote_pid is not None
            for who, pid in (("zygote", pool.zygote_pid), ("worker", worker.pid)):
                env = _environ(pid)
                leaked = sorted(set(SECRETS) & set(env))
                assert not leaked, f"the {who}'s environment holds {leaked}"
                assert not any("secret-test" in v for v in env.values()), f"a secret value in the {who}"
                assert env["HOME"] == env["TMPDIR"] and env["HOME"] != os.environ.get("HOME")
        finally:
            worker.kill()
            worker.close()
        # The same pool still runs jobs for the host, which keeps its own keys.
        program = compile_program("x = 6 * 7\nx\n", "env.na")
        result = run_isolated(program, SandboxContext(), SandboxPolicy(timeout=10), pool=pool)
        assert result.error is None and result.value == 42, result.error
        assert os.environ["OPENAI_API_KEY"] == "sk-secret-test"
    finally:
        pool.shutdown()


def test_the_embedding_apps_own_folder_is_not_readable_from_a_confined_worker(tmp_path) -> None:
    import subprocess
    import sys

    from danaflow.lang.confine import landlock_abi

    if landlock_abi() <= 0:
        pytest.skip("this kernel offers no Landlock: file confinement is not applied")
    app = tmp_path / "app"
    app.mkdir()
    (app / ".env").write_text("OPENAI_API_KEY=sk-app-secret\n")
    work = tmp_path / "work"
    work.mkdir()
    (app / "main.py").write_text(
        "import sys\n"
        "from danaflow.lang.confine import confine_os\n"
        f"confine_os({str(work)!r})\n"
        "import json\n"  # stdlib stays importable
        "try:\n"
        f"    open({str(app / '.env')!r}).read()\n"
        "    print('READ')\n"
        "except PermissionError:\n"
        "    print('refused')\n"
    )
    out = subprocess.run([sys.executable, str(app / "main.py")], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "refused", out.stderr
