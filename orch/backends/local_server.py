"""One managed llama.cpp server: a child process serving one GGUF under one alias on 127.0.0.1.

The child is `orch.backends._llamacpp_worker` (xllamacpp's server) with its own log file, so it can
be killed alone and say why it failed. It must never outlive orch: stop() and an exit handler close
its stdin (the worker exits on EOF), and `child_process` adds the kernel's parent-death signal.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import NoReturn

from orch.backends.catalog import resolve_gguf
from orch.backends.child_process import SPAWNER, describe_exit, parent_death_preexec
from orch.backends.startup_checks import http_failure, log_tail
from orch.errors import BackendError
from orch.settings import get_settings

__all__ = ["WORKER_MODULE", "LocalServer"]

WORKER_MODULE = "orch.backends._llamacpp_worker"

_STOP_GRACE_S = 5.0


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
                            preexec_fn=parent_death_preexec(parent_pid),
                        )
                except BaseException:
                    starting.unlink(missing_ok=True)
                    raise
                final = log_dir / f"{stem}-{proc.pid}.log"
                os.replace(starting, final)
                self._proc, self._log_path = proc, final
            atexit.register(self.stop)

        SPAWNER.run(fork)

    def _fail(self, message: str) -> NoReturn:
        """Stop the child, then raise with the end of its log: that is where llama.cpp says why."""
        proc = self._proc
        code = proc.poll() if proc is not None else None  # before stop(): did it die on its own?
        self.stop()
        exit_note = f" ({describe_exit(code)})" if code is not None else ""
        raise BackendError(
            f"llama.cpp server {self.alias!r} ({self.gguf}) {message}{exit_note}; "
            f"log tail: {log_tail(self._log_path)} (full log: {self._log_path})"
        )

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
        """Health, alias and chat template over HTTP; a failure stops the child and raises."""
        failure = http_failure(proc, address, self.alias, self.chat_template, deadline)
        if failure is not None:
            self._fail(failure)
