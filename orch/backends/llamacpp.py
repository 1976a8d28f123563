"""Managed llama.cpp servers: one child process per local GGUF model, OpenAI-compatible over HTTP.

Each model runs in its own `orch.backends._llamacpp_worker` process (xllamacpp's server), so it has
its own log file and can be killed alone. A child must never outlive orch: the parent closes the
child's stdin on stop and at exit, the child exits on stdin EOF, and on Linux the kernel also sends it
SIGTERM when the parent dies (PR_SET_PDEATHSIG), which covers SIGKILL and crashes.

llama.cpp ignores a request's `model` field and answers with whatever it loaded, so start-up checks
that `/v1/models` lists the expected alias: a misrouted URL fails here, not as silently wrong answers.

The parts: `child_process` (forking and the parent-death signal), `startup_checks` (HTTP checks and
log tails), `local_server` (`LocalServer`, one model); this module adds `LocalServers`, several
started and stopped together, and re-exports `LocalServer` and `WORKER_MODULE`.
"""

from __future__ import annotations

import atexit
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from types import TracebackType

from orch.backends.local_server import WORKER_MODULE, LocalServer

__all__ = ["WORKER_MODULE", "LocalServer", "LocalServers"]


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
