"""Managed llama.cpp servers: one child process per local GGUF model, OpenAI-compatible over HTTP.

Each model runs in its own `orch.backends._llamacpp_worker` process (xllamacpp's server), so it has
its own log file and can be killed alone. A child must never outlive orch: the parent closes the
child's stdin on stop and at exit, the child exits on stdin EOF, and on Linux the kernel also sends it
SIGTERM when the parent dies (PR_SET_PDEATHSIG), which covers SIGKILL and crashes.

llama.cpp ignores a request's `model` field and answers with whatever it loaded, so start-up checks
that `/v1/models` lists the expected alias: a misrouted URL fails here, not as silently wrong answers.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import queue
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, TypeVar

import httpx

from orch.backends.catalog import resolve_gguf
from orch.errors import BackendError
from orch.settings import get_settings

__all__ = ["WORKER_MODULE", "LocalServer", "LocalServers"]

WORKER_MODULE = "orch.backends._llamacpp_worker"

_STOP_GRACE_S = 5.0
_LOG_TAIL_LINES = 6
_TEMPLATE_PROBE = "orch-template-probe-7c1e"
_LLAMA_ERROR_LINE = re.compile(r"^\d+\.\d+\.\d+\.\d+ E ")  # e.g. `0.00.003.940 E cmn  common_init_: ...`
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


def _preexec(parent_pid: int) -> Callable[[], None] | None:
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


class _Spawner:
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


_SPAWNER = _Spawner()


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class LocalServer:
    """One llama.cpp server process serving one GGUF under one alias on 127.0.0.1."""

    def __init__(
        self,
        gguf: Path,
        alias: str,
        *,
        threads: int = 2,
        ctx: int = 4096,
        chat_template: str | None = None,
        log_dir: Path | None = None,
        startup_timeout_s: float = 120.0,
    ) -> None:
        self.gguf = Path(gguf)
        self.alias = alias
        self.threads = threads
        self.ctx = ctx
        self.chat_template = chat_template
        self.startup_timeout_s = startup_timeout_s
        self._log_dir = log_dir
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self._base_url: str | None = None
        self._cancelled = False

    @classmethod
    def from_local(
        cls,
        local: str,
        alias: str | None = None,
        *,
        threads: int = 2,
        ctx: int = 4096,
        log_dir: Path | None = None,
        startup_timeout_s: float = 120.0,
        source: object = "pool",
        where: str | None = "local",
    ) -> LocalServer:
        """A server for a catalog name or `.gguf` path, with the catalog's chat template if any."""
        path, model = resolve_gguf(local, source=source, where=where)
        return cls(
            path,
            alias or (model.name if model else path.stem),
            threads=threads,
            ctx=ctx,
            chat_template=model.chat_template if model else None,
            log_dir=log_dir,
            startup_timeout_s=startup_timeout_s,
        )

    # -- state -------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, `http://127.0.0.1:PORT/v1`."""
        if self._base_url is None:
            raise BackendError(f"llama.cpp server {self.alias!r} is not running; call start() first")
        return self._base_url

    @property
    def log_path(self) -> Path | None:
        """`<logs_dir>/<alias>-<child pid>.log`, once started."""
        return self._log_path

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._base_url is not None and self._proc is not None and self._proc.poll() is None

    def __repr__(self) -> str:
        return f"LocalServer({self.alias!r}, {self.gguf}, url={self._base_url}, pid={self.pid})"

    # -- life cycle --------------------------------------------------------------------------------

    def start(self) -> str:
        """Start the child, wait until it serves `alias`, and return the base URL."""
        if self.running:
            return self.base_url
        self._spawn()
        try:
            return self._await_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Close stdin, SIGTERM, wait, then SIGKILL. Safe to call twice or before start."""
        with self._lock:
            self._cancelled = True
            self._base_url = None
            proc = self._proc
        atexit.unregister(self.stop)
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(timeout=_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------------------------

    def _command(self) -> list[str]:
        cmd = [sys.executable, "-m", WORKER_MODULE, "--model", str(self.gguf), "--alias", self.alias]
        cmd += ["--threads", str(self.threads), "--ctx", str(self.ctx)]
        if self.chat_template:
            cmd.append(f"--chat-template={self.chat_template}")  # `=`: Jinja source may start with "-"
        return cmd

    def _spawn(self) -> None:
        """Fork the worker (on the spawner thread) with its stderr going to a fresh log file."""
        with self._lock:
            self._cancelled = False
            self._base_url = None
        log_dir = (self._log_dir or get_settings().logs_dir).expanduser()
        log_dir.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", self.alias)
        cmd = self._command()
        parent_pid = os.getpid()

        def fork() -> None:
            # Under the lock, so a concurrent stop() either prevents the fork or sees the process.
            with self._lock:
                if self._cancelled:
                    raise BackendError(f"llama.cpp server {self.alias!r} was stopped before it started")
                starting = log_dir / f"{stem}-starting-{parent_pid}-{id(self):x}.log"
                try:
                    with starting.open("wb") as log:
                        proc = subprocess.Popen(
                            cmd,
                            stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE,
                            stderr=log,
                            start_new_session=True,  # Ctrl-C reaches orch, which then stops us
                            preexec_fn=_preexec(parent_pid),
                        )
                except BaseException:
                    starting.unlink(missing_ok=True)
                    raise
                final = log_dir / f"{stem}-{proc.pid}.log"
                os.replace(starting, final)
                self._proc, self._log_path = proc, final
            atexit.register(self.stop)

        _SPAWNER.run(fork)

    def _fail(self, message: str) -> NoReturn:
        """Stop the child, then raise with the end of its log: that is where llama.cpp says why."""
        proc = self._proc
        code = proc.poll() if proc is not None else None  # before stop(): did it die on its own?
        self.stop()
        exit_note = f" ({_describe_exit(code)})" if code is not None else ""
        raise BackendError(
            f"llama.cpp server {self.alias!r} ({self.gguf}) {message}{exit_note}; "
            f"log tail: {self._log_tail()} (full log: {self._log_path})"
        )

    def _log_tail(self) -> str:
        """llama.cpp's error lines if it logged any (they say why), else the last lines."""
        if self._log_path is None:
            return "(no log)"
        try:
            lines = self._log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            return f"(log unreadable: {exc})"
        lines = [line.strip()[:240] for line in lines if line.strip()]
        errors = [line for line in lines if _LLAMA_ERROR_LINE.match(line)]
        tail = (errors or lines)[-_LOG_TAIL_LINES:]
        return " | ".join(tail) or "(empty)"

    def _await_ready(self) -> str:
        """Wait for the worker's one line, then check health, alias and chat template over HTTP."""
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        deadline = time.monotonic() + self.startup_timeout_s
        try:
            line = self._read_ready_line(proc, deadline)
        finally:
            proc.stdout.close()
        if line is None or line.startswith("ERROR "):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=_STOP_GRACE_S)  # let it exit on its own, so the exit code is its
        if line is None:
            self._fail("exited during start-up")
        if line.startswith("ERROR "):
            self._fail(f"failed to load: {line.removeprefix('ERROR ')}")
        if not line.startswith("READY "):
            self._fail(f"sent an unexpected start-up line {line!r}")
        address = line.removeprefix("READY ").strip().rstrip("/")
        self._check_http(proc, address, deadline)
        with self._lock:
            if self._cancelled:
                raise BackendError(f"llama.cpp server {self.alias!r} was stopped during start-up")
            self._base_url = f"{address}/v1"
        return self._base_url

    def _read_ready_line(self, proc: subprocess.Popen[bytes], deadline: float) -> str | None:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        buf = b""
        while b"\n" not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail(
                    f"was not ready within {self.startup_timeout_s:g} s "
                    "(raise local.startup_timeout_s in the pool config?)"
                )
            readable, _, _ = select.select([fd], [], [], min(remaining, 0.5))
            if not readable:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                return None
            buf += chunk
        return buf.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()

    def _check_http(self, proc: subprocess.Popen[bytes], address: str, deadline: float) -> None:
        # trust_env=False: an HTTP(S)_PROXY without 127.0.0.1 in NO_PROXY must not swallow local calls.
        with httpx.Client(base_url=address, timeout=10.0, trust_env=False) as client:
            last = "no answer"
            while True:
                try:
                    r = client.get("/health")
                    if r.status_code == 200 and r.json().get("status") == "ok":
                        break
                    last = f"HTTP {r.status_code} {r.text[:200]}"
                except (httpx.HTTPError, ValueError) as exc:
                    last = f"{type(exc).__name__}: {exc}"
                if proc.poll() is not None:
                    self._fail("exited during start-up")
                if time.monotonic() > deadline:
                    self._fail(f"never reported healthy at {address}/health (last: {last})")
                time.sleep(0.1)
            try:
                r = client.get("/v1/models")
                r.raise_for_status()
                served = {
                    name
                    for entry in r.json().get("data", [])
                    for name in (entry.get("id"), *entry.get("aliases", []))
                    if name
                }
            except (httpx.HTTPError, ValueError, AttributeError) as exc:
                self._fail(f"answered /v1/models badly at {address}: {exc}")
            if self.alias not in served:
                self._fail(f"at {address} serves {sorted(served)}, not {self.alias!r}")
            # A bad template name only fails per request (HTTP 500), and a built-in name given as
            # Jinja renders every prompt as that word: render a probe now rather than later.
            try:
                r = client.post("/apply-template", json={"messages": [{"role": "user", "content": _TEMPLATE_PROBE}]})
                prompt = r.json().get("prompt", "") if r.status_code == 200 else ""
            except (httpx.HTTPError, ValueError, AttributeError) as exc:
                self._fail(f"could not render its chat template at {address}: {exc}")
            if _TEMPLATE_PROBE not in prompt:
                self._fail(
                    f"chat template {self.chat_template or '(from the GGUF)'!r} does not render messages "
                    f"(HTTP {r.status_code}: {r.text[:200]})"
                )


class LocalServers:
    """Several `LocalServer`s keyed by alias, started together and always stopped together."""

    def __init__(self, servers: Iterable[LocalServer] = ()) -> None:
        self._servers: dict[str, LocalServer] = {}
        for server in servers:
            self.add(server)

    def add(self, server: LocalServer) -> None:
        if server.alias in self._servers:
            raise ValueError(f"duplicate local server alias {server.alias!r}")
        self._servers[server.alias] = server

    def __getitem__(self, alias: str) -> LocalServer:
        return self._servers[alias]

    def __contains__(self, alias: object) -> bool:
        return alias in self._servers

    def __iter__(self) -> Iterator[LocalServer]:
        return iter(self._servers.values())

    def __len__(self) -> int:
        return len(self._servers)

    @property
    def base_urls(self) -> dict[str, str]:
        return {alias: s.base_url for alias, s in self._servers.items() if s.running}

    def start_all(self) -> dict[str, str]:
        """Start every server concurrently; if one fails (or Ctrl-C), stop all and re-raise.

        Forks happen first, one after another in this thread (milliseconds each), so an abort can
        never race a fork; only the waiting (model load, HTTP checks) runs in helper threads.
        """
        pending = [s for s in self._servers.values() if not s.running]
        if not pending:
            return self.base_urls
        atexit.register(self.stop_all)
        pool = ThreadPoolExecutor(max_workers=len(pending), thread_name_prefix="orch-llamacpp-start")
        try:
            for server in pending:
                server._spawn()
            futures = [pool.submit(server._await_ready) for server in pending]
            for future in as_completed(futures):
                future.result()
        except BaseException:
            self.stop_all()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return self.base_urls

    def stop_all(self) -> None:
        atexit.unregister(self.stop_all)
        for server in self._servers.values():
            server.stop()

    def __enter__(self) -> LocalServers:
        self.start_all()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_all()
