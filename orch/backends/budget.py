"""Request budgets: how many calls a backend takes at once.

The graph fans out in parallel, but whether requests really run together is the backend's
business. Local llama.cpp servers share two CPU cores and thrash when asked together, so all of
them share one small budget; a remote endpoint gets a budget of its own.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["RequestBudget"]


class RequestBudget:
    """At most `limit` requests in flight; callers wait in FIFO order."""

    def __init__(self, name: str, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"request budget {name!r}: limit must be at least 1, got {limit}")
        self.name = name
        self.limit = limit
        # One semaphore per event loop: asyncio primitives bind to the loop that first uses them,
        # and a pool may outlive several `asyncio.run` calls (tests, notebooks).
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._semaphores.get(loop)
        if sem is None:
            sem = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        return sem

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._semaphore():
            yield

    def __repr__(self) -> str:
        return f"RequestBudget({self.name!r}, limit={self.limit})"
