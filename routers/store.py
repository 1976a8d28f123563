"""Router states in a LangGraph Store, one namespace per router id, every update a new version.

`SqliteStore` by default (`.orch/router.sqlite`), `PostgresStore` when several processes or
machines share a router (`ORCH_ROUTER_STORE=postgresql://…`). An update is a read-modify-write
under a lock that spans processes (a file lock for SQLite, an advisory lock for PostgreSQL), so
two processes updating one router lose no update.
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from orch.errors import ConfigError
from orch.routers.state import RouterState
from orch.settings import get_settings
from orch.store_urls import redacted

if TYPE_CHECKING:
    from langgraph.store.base import BaseStore

    from orch.routers.policy import RouterPolicy

__all__ = ["RouterRepo", "RouterVersion", "default_store_url"]

_ROOT = ("orch", "router")


class RouterVersion(BaseModel):
    router_id: str
    version: int
    state_hash: str
    policy_hash: str
    reason: str
    created: float
    state: RouterState


def default_store_url() -> str:
    settings = get_settings()
    return settings.router_store or f"sqlite:///{(settings.state_dir / 'router.sqlite').resolve()}"


class RouterRepo:
    """Load, version and inspect router states. Holds JSON documents only."""

    def __init__(self, store: BaseStore, lock: Callable[[str], AbstractContextManager[None]], url: str) -> None:
        self.store = store
        self._lock = lock
        self.url = url

    @classmethod
    @contextmanager
    def open(cls, url: str | None = None) -> Iterator[RouterRepo]:
        """Open the store at `url` (`sqlite:///path` or `postgresql://…`; default: `default_store_url()`)."""
        url = url or default_store_url()
        if url.startswith("sqlite:///"):
            with _sqlite(Path(url.removeprefix("sqlite:///"))) as (store, lock):
                yield cls(store, lock, url)
        elif url.startswith(("postgresql://", "postgres://")):
            with _postgres(url) as (store, lock):
                yield cls(store, lock, url)
        else:
            raise ConfigError("ORCH_ROUTER_STORE", None, f"{url!r}: use sqlite:///path or postgresql://…")

    # -- reading ---------------------------------------------------------------------------
    def current(self, router_id: str) -> RouterVersion | None:
        pointer = self.store.get((*_ROOT, router_id), "current")
        return None if pointer is None else self.get(router_id, int(pointer.value["version"]))

    def current_under(self, router_id: str, policy: RouterPolicy, fix: str | None = None) -> RouterVersion | None:
        """The current version, refused when it was built under another policy (never reused silently).

        Args:
            fix: what the error tells you to do (default: reset the router or choose another `--router`).

        Raises:
            ConfigError: the router's state was built with a different policy.
        """
        current = self.current(router_id)
        if current is not None and current.policy_hash != policy.policy_hash:
            raise ConfigError(
                "router",
                router_id,
                f"its state (version {current.version}) was built with policy "
                f"{current.policy_hash}, the graph's is {policy.policy_hash}; "
                f"{fix or f'`orch router reset {router_id}` or choose another --router'}",
            )
        return current

    def get(self, router_id: str, version: int) -> RouterVersion:
        item = self.store.get((*_ROOT, router_id, "versions"), f"{version:09d}")
        if item is None:
            raise ConfigError("router", router_id, f"no version {version}")
        return RouterVersion.model_validate(item.value)

    def history(self, router_id: str) -> list[RouterVersion]:
        namespace = (*_ROOT, router_id, "versions")
        found, offset = [], 0
        while batch := self.store.search(namespace, limit=500, offset=offset):
            found += batch
            offset += len(batch)
        return sorted((RouterVersion.model_validate(i.value) for i in found), key=lambda v: v.version)

    def routers(self) -> list[str]:
        return sorted({ns[2] for ns in self.store.list_namespaces(prefix=_ROOT, max_depth=3, limit=10_000)})

    # -- writing ---------------------------------------------------------------------------
    def commit(
        self, router_id: str, update: Callable[[RouterState | None], RouterState | None], reason: str
    ) -> RouterState | None:
        """Read the current state, apply `update`, store the result as a new version, all under the
        router's lock. `update` returns None (or the same version) to change nothing."""
        with self._lock(router_id):
            current = self.current(router_id)
            new = update(current.state if current else None)
            if new is None or (current is not None and new.version <= current.version):
                return current.state if current else None
            record = RouterVersion(
                router_id=router_id,
                version=new.version,
                state_hash=new.state_hash,
                policy_hash=new.policy_hash,
                reason=reason,
                created=time.time(),
                state=new,
            )
            self.store.put((*_ROOT, router_id, "versions"), f"{new.version:09d}", record.model_dump(mode="json"))
            self.store.put((*_ROOT, router_id), "current", {"version": new.version, "state_hash": new.state_hash})
            return new

    def reset(self, router_id: str) -> int:
        """Delete every version of a router; returns how many there were."""
        with self._lock(router_id):
            versions = self.history(router_id)
            for v in versions:
                self.store.delete((*_ROOT, router_id, "versions"), f"{v.version:09d}")
            self.store.delete((*_ROOT, router_id), "current")
            return len(versions)


@contextmanager
def _sqlite(path: Path) -> Iterator[tuple[BaseStore, Callable[[str], AbstractContextManager[None]]]]:
    from langgraph.store.sqlite import SqliteStore

    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    store = SqliteStore(conn)

    @contextmanager
    def lock(name: str) -> Iterator[None]:
        # One lock file per store: commits are short, and flock spans processes.
        with open(f"{path}.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    try:
        with lock("setup"):
            store.setup()
        yield store, lock
    finally:
        conn.close()


@contextmanager
def _postgres(url: str) -> Iterator[tuple[BaseStore, Callable[[str], AbstractContextManager[None]]]]:
    import psycopg
    from langgraph.store.postgres import PostgresStore

    try:  # one line naming the setting, not psycopg's traceback, when the server is down
        lock_conn = psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError("environment", "ORCH_ROUTER_STORE", f"{redacted(url)!r}: cannot connect ({cause})") from exc
    with PostgresStore.from_conn_string(url) as store, lock_conn:

        @contextmanager
        def lock(name: str) -> Iterator[None]:
            key = zlib.crc32(f"orch-router:{name}".encode())
            # Poll with short statements rather than block in one: the store's setup runs
            # CREATE INDEX CONCURRENTLY, which waits for every open transaction, a blocked
            # pg_advisory_lock call included (a deadlock across processes).
            while not lock_conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
                time.sleep(0.02)
            try:
                yield
            finally:
                with contextlib.suppress(Exception):
                    lock_conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

        with lock("\x00setup"):  # two processes migrating one database at once collide
            store.setup()
        yield store, lock
