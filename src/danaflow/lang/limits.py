"""The wall-clock timeout for a running Dana program.

A watchdog timer raises ``TimeoutExpired`` asynchronously in the thread that runs the program
(``PyThreadState_SetAsyncExc``), so the generated code carries no per-iteration clock checks. The
exception is delivered at the interpreter's next check, which means a thread blocked inside a C
call (a sleep, a socket read) is stopped only when that call returns; LLM calls have their own
timeouts for that reason.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable

from .runtime import TimeoutExpired

__all__ = ["Watchdog"]

_REFIRE_S = 0.05

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)


class Watchdog:
    """Context manager: interrupts the current thread after ``timeout`` seconds (None: never)."""

    def __init__(self, timeout: float | None, on_fire: Callable[[], None] | None = None):
        self.timeout = timeout
        self.on_fire = on_fire
        """Also called when the timeout passes (the runtime turns its step checks into stops)."""
        self._lock = threading.Lock()
        self._active = False
        self.fired = False
        self._timer: threading.Timer | None = None
        self._thread_id = 0

    def _fire(self) -> None:
        with self._lock:
            if not self._active:
                return
            self.fired = True
            if self.on_fire is not None:
                self.on_fire()
            _set_async_exc(ctypes.c_ulong(self._thread_id), ctypes.py_object(TimeoutExpired))
            # Fire again until the program is gone: a `finally:` block may loop too.
            self._timer = threading.Timer(_REFIRE_S, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def __enter__(self) -> Watchdog:
        if self.timeout is None:
            return self
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive, got {self.timeout}")
        self._thread_id = threading.get_ident()
        self._active = True
        self._timer = threading.Timer(self.timeout, self._fire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._timer is None:
            return
        with self._lock:
            self._active = False
            if self._timer is not None:
                self._timer.cancel()
            if self.fired:
                # The exception may still be pending if the program ended first: clear it so it
                # cannot surface later in unrelated code.
                _set_async_exc(ctypes.c_ulong(self._thread_id), ctypes.py_object())
