"""A circuit breaker per agent: an endpoint that keeps failing is not called again for a while.

After `failures` consecutive failed calls (each already retried) the circuit opens: calls fail at
once, naming the breaker, without a request, for `cooldown_s`. Then one call goes through
(half-open): success closes the circuit, failure opens it again. A refused call is a failed call
like any other — the item is degraded or failed, and a routed graph's router sees the agent's
stability fall (its EMA of call success), so it ranks the agent lower until it recovers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

__all__ = ["CircuitBreaker"]

State = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    def __init__(
        self, failures: int = 5, cooldown_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_out = False
        self.refused = 0
        """Calls refused while open, since the breaker was made."""

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        return "open" if self._clock() - self._opened_at < self.cooldown_s else "half-open"

    def refusal(self) -> str | None:
        """Why this call may not be made now, or None (in half-open, one trial call at a time)."""
        state = self.state
        if state == "closed" or (state == "half-open" and not self._trial_out):
            self._trial_out = state == "half-open"
            return None
        self.refused += 1
        wait = max(0.0, self.cooldown_s - (self._clock() - (self._opened_at or 0.0)))
        return f"circuit open after {self._consecutive} failed calls in a row; not called (next trial in {wait:.0f} s)"

    def abandon(self) -> None:
        """A call that was let through ended without an outcome (cancelled): a half-open breaker
        lets the next call be the trial."""
        self._trial_out = False

    def record(self, ok: bool) -> None:
        """The outcome of a call that was made."""
        self._trial_out = False
        if ok:
            self._consecutive, self._opened_at = 0, None
            return
        self._consecutive += 1
        if self._opened_at is not None or self._consecutive >= self.failures:
            self._opened_at = self._clock()
