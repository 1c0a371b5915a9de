"""Confining a worker process: resource limits, Landlock and a seccomp filter.

The language rules keep a Dana program away from Python internals; this module is the second
wall, for the day a program gets past the first. A confined worker cannot open files outside the
Python installation (read-only) and its own directory, cannot connect or bind TCP sockets,
cannot signal processes outside itself (Landlock, Linux 5.13+, applied up to the ABI the kernel
has), cannot create sockets, run programs, fork, trace or mount (seccomp, x86_64), and is held to
``RLIMIT_AS`` / ``RLIMIT_CPU``. Each layer is applied where the kernel offers it and reported by
``confine()``; none needs a library beyond ctypes.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import resource
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "Confinement",
    "clean_environment",
    "confine",
    "confine_os",
    "landlock_abi",
    "prepare",
    "set_limits",
]

_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_DUMPABLE = 4
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2

# Landlock access rights by ABI version (linux/landlock.h).
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1, 2, 4, 8
_FS_ALL = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}
_FS_ALL_LATER = (1 << 16) - 1  # ABI 5+ adds IOCTL_DEV
_NET_ALL = 0b11  # BIND_TCP | CONNECT_TCP (ABI 4+)
_SCOPE_ALL = 0b11  # ABSTRACT_UNIX_SOCKET | SIGNAL (ABI 6+)
_READ_ONLY = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR

_ENV_KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int


@dataclass
class Confinement:
    """What ``confine()`` applied, for the worker to report and the tests to check."""

    landlock_abi: int = 0
    seccomp: bool = False
    rlimits: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def clean_environment(workdir: str) -> dict[str, str]:
    """The environment a worker starts with: no API keys, tokens or other host secrets.

    Only locale, time zone and PATH are kept; HOME and TMPDIR point at the worker's own directory.
    """
    env = {k: os.environ[k] for k in _ENV_KEEP if k in os.environ}
    env.update(
        {
            "HOME": workdir,
            "TMPDIR": workdir,
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONSAFEPATH": "1",
        }
    )
    return env


@functools.cache
def landlock_abi() -> int:
    """The Landlock ABI version the kernel offers (0 when it has none or it is disabled).

    Cached: the first ctypes call of a process costs milliseconds, so the zygote asks once and
    every forked worker inherits the answer."""
    if sys.platform != "linux":
        return 0
    version = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(int(version), 0)


def _set_rlimits(memory: int | None, cpu: float | None, info: Confinement) -> None:
    if memory is not None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        info.rlimits["AS"] = memory
    if cpu is not None:
        used = resource.getrusage(resource.RUSAGE_SELF)
        seconds = int(used.ru_utime + used.ru_stime + cpu) + 1
        # The soft limit sends SIGXCPU (the worker reports it); the hard one kills a second later.
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
        info.rlimits["CPU"] = seconds
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 20, 64 << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    info.rlimits["FSIZE"] = 64 << 20


def _landlock(read_only: Iterable[str], read_write: Iterable[str], info: Confinement) -> None:
    abi = landlock_abi()
    if abi <= 0:
        info.notes.append("landlock unavailable: files, TCP and signals are confined by the language only")
        return
    handled_fs = _FS_ALL.get(abi, _FS_ALL_LATER)
    handled_net = _NET_ALL if abi >= 4 else 0
    scoped = _SCOPE_ALL if abi >= 6 else 0
    if abi >= 6:
        attr = struct.pack("=QQQ", handled_fs, handled_net, scoped)
    elif abi >= 4:
        attr = struct.pack("=QQ", handled_fs, handled_net)
    else:
        attr = struct.pack("=Q", handled_fs)
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        info.notes.append(f"landlock ruleset refused: {os.strerror(ctypes.get_errno())}")
        return
    try:
        for paths, rights in ((read_only, _READ_ONLY), (read_write, handled_fs)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    # A file (not a directory) may only carry file rights.
                    allowed = (
                        rights
                        if os.path.isdir(path)
                        else rights
                        & ~_FS_READ_DIR
                        & (_FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | (1 << 14) | (1 << 15))
                    )
                    rule = ctypes.create_string_buffer(struct.pack("=Qi", allowed & handled_fs, fd), 12)
                    if _libc.syscall(_SYS_LANDLOCK_ADD_RULE, ruleset, 1, rule, 0) < 0:
                        info.notes.append(
                            f"landlock rule for {path} refused: {os.strerror(ctypes.get_errno())}"
                        )
                finally:
                    os.close(fd)
        if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            info.notes.append("no_new_privs refused")
            return
        if _libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0) < 0:
            info.notes.append(f"landlock restrict refused: {os.strerror(ctypes.get_errno())}")
            return
        info.landlock_abi = abi
    finally:
        os.close(ruleset)


# x86_64 system call numbers the filter refuses with EPERM (clone3 with ENOSYS, so that glibc
# falls back to clone, whose flags the filter can read).
_X86_64_DENY = {
    41: "socket",
    42: "connect",
    43: "accept",
    49: "bind",
    50: "listen",
    53: "socketpair",
    57: "fork",
    58: "vfork",
    59: "execve",
    101: "ptrace",
    135: "personality",
    155: "pivot_root",
    161: "chroot",
    165: "mount",
    166: "umount2",
    167: "swapon",
    169: "reboot",
    175: "init_module",
    176: "delete_module",
    246: "kexec_load",
    248: "add_key",
    249: "request_key",
    250: "keyctl",
    272: "unshare",
    288: "accept4",
    298: "perf_event_open",
    308: "setns",
    310: "process_vm_readv",
    311: "process_vm_writev",
    313: "finit_module",
    321: "bpf",
    322: "execveat",
    323: "userfaultfd",
    425: "io_uring_setup",
    426: "io_uring_enter",
    427: "io_uring_register",
}
_CLONE = 56
_CLONE3 = 435
_CLONE_THREAD = 0x00010000
_AUDIT_ARCH_X86_64 = 0xC000003E
_EPERM, _ENOSYS = 1, 38


def _bpf(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


@functools.cache
def _seccomp_program() -> bytes:
    # BPF opcodes: LD|W|ABS = 0x20, JMP|JEQ|K = 0x15, JMP|JSET|K = 0x45, RET|K = 0x06.
    allow, kill = 0x7FFF0000, 0x80000000
    errno = 0x00050000
    insns = [
        _bpf(0x20, 0, 0, 4),  # arch
        _bpf(0x15, 1, 0, _AUDIT_ARCH_X86_64),
        _bpf(0x06, 0, 0, kill),
        _bpf(0x20, 0, 0, 0),  # syscall number
    ]
    deny = sorted(_X86_64_DENY)
    for nr in deny:
        insns.append(_bpf(0x15, 0, 1, nr))
        insns.append(_bpf(0x06, 0, 0, errno | _EPERM))
    insns.append(_bpf(0x15, 0, 1, _CLONE3))
    insns.append(_bpf(0x06, 0, 0, errno | _ENOSYS))
    insns.append(_bpf(0x15, 0, 3, _CLONE))
    insns.append(_bpf(0x20, 0, 0, 16))  # args[0] (low 32 bits): the clone flags
    insns.append(_bpf(0x45, 1, 0, _CLONE_THREAD))  # a thread: allowed
    insns.append(_bpf(0x06, 0, 0, errno | _EPERM))  # a new process: refused
    insns.append(_bpf(0x06, 0, 0, allow))
    return b"".join(insns)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _seccomp(info: Confinement) -> None:
    if sys.platform != "linux" or platform.machine() != "x86_64":
        info.notes.append(
            f"seccomp filter not built for {platform.machine()}: exec and sockets stay possible"
        )
        return
    program = _seccomp_program()
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        info.notes.append("no_new_privs refused: no seccomp filter")
        return
    if _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        info.notes.append(f"seccomp refused: {os.strerror(ctypes.get_errno())}")
        return
    info.seccomp = True


@functools.cache
def _package_root() -> str:
    """The folder danaflow is imported from (site-packages, or a source checkout's src/)."""
    import danaflow

    return os.path.dirname(os.path.dirname(os.path.abspath(danaflow.__file__)))


def prepare() -> None:
    """Does the per-process work of confinement ahead of time (the zygote calls it once)."""
    landlock_abi()
    _seccomp_program()
    _package_root()
    _libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)  # binds the ctypes call paths used later


def confine_os(workdir: str, info: Confinement | None = None, read_only: Iterable[str] = ()) -> Confinement:
    """Landlock and seccomp for the calling process, for good (see the module docstring)."""
    info = info if info is not None else Confinement()
    _libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)  # no ptrace of the worker by its own uid
    readable = {sys.prefix, sys.base_prefix, sys.exec_prefix, _package_root(), *read_only}
    # Of sys.path, only installed-package folders: the embedding app's own folder (sys.path[0],
    # with its .env and data) is none of the worker's business.
    readable |= {
        p for p in sys.path if p and ("site-packages" in p or "dist-packages" in p or p.endswith(".zip"))
    }
    readable |= {
        "/usr/lib",
        "/lib",
        "/lib64",
        "/usr/lib64",
        "/usr/share/zoneinfo",
        "/dev/null",
        "/dev/urandom",
    }
    _landlock(sorted(p for p in readable if os.path.exists(p)), [workdir], info)
    _seccomp(info)
    return info


def set_limits(memory: int | None, cpu: float | None, info: Confinement | None = None) -> Confinement:
    """RLIMIT_AS / RLIMIT_CPU (from now) / RLIMIT_FSIZE for the calling process."""
    info = info if info is not None else Confinement()
    _set_rlimits(memory, cpu, info)
    return info


def confine(
    workdir: str,
    *,
    memory: int | None,
    cpu: float | None,
    os_confinement: bool = True,
    read_only: Iterable[str] = (),
) -> Confinement:
    """Confines the calling process for good (it is a worker about to run untrusted code).

    ``read_only`` adds directories the worker may read (the Python installation, installed packages
    and danaflow itself are always readable, so lazy imports keep working; the embedding app's own
    folder is not); ``workdir`` is its only writable place.
    """
    info = Confinement()
    _set_rlimits(memory, cpu, info)
    if os_confinement:
        confine_os(workdir, info, read_only)
    return info
