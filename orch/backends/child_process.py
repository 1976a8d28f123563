"""Child processes that never outlive orch: forked from one long-lived thread, with a parent-death signal.

On Linux the kernel sends a child SIGTERM when its parent dies (PR_SET_PDEATHSIG), which covers
SIGKILL and crashes where no exit handler runs; elsewhere the child relies on stdin EOF alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["SPAWNER", "Spawner", "describe_exit", "parent_death_preexec"]

_PR_SET_PDEATHSIG = 1

T = TypeVar("T")


def _load_prctl() -> Callable[..., int] | None:
    """Resolve libc's prctl in the parent: loading a library between fork and exec can deadlock."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()


def parent_death_preexec(parent_pid: int) -> Callable[[], None] | None:
    """Ask the kernel to SIGTERM the child when its parent dies (Linux only; elsewhere stdin EOF)."""
    prctl = _PRCTL
    if prctl is None:
        return None
    sigterm = int(signal.SIGTERM)

    def set_parent_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, sigterm, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died between fork and prctl
            os.kill(os.getpid(), sigterm)

    return set_parent_death_signal


class Spawner:
    """Forks every worker from one long-lived daemon thread.

    The parent-death signal fires when the *thread* that forked the child exits, not the process: a
    server started from a short-lived thread (a thread pool, `start_all`'s helpers) would be killed
    as soon as that thread retired.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the spawner thread and return its result (or raise its exception)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="orch-llamacpp-spawner", daemon=True)
                self._thread.start()
        future: Future[T] = Future()
        self._jobs.put((fn, future))
        return future.result()

    def _loop(self) -> None:
        while True:
            fn, future = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)


SPAWNER = Spawner()
"""The one spawner every llama.cpp worker is forked from."""


def describe_exit(code: int | None) -> str:
    """How a child ended, for error messages: "exit code 1", "killed by SIGKILL"."""
    if code is None:
        return "still running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"
