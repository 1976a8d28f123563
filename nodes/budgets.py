"""Budgets of cost (US dollars, from the calls' measured cost) and wall time (seconds), for a run
and for each of its items.

A run's budget decides whether a new item may start: once the run has spent `max_cost` or run for
`max_time`, no item starts, the items in flight finish, and the run stops cleanly (a re-run of the
same evaluation continues where it stopped). An item's budget is enforced while it runs: past
`item_max_time` it is cut off (a failed item, retried next run); once its calls cost
`item_max_cost`, every further call is refused with `BudgetExceeded`, which nodes record as a failed
call like any other `BackendError`.

The runner sets the item's `ItemSpend` in a context variable around the item's graph call, and
`CallLog.complete` (the one place nodes make calls) checks and charges it, so no node code knows
about budgets and parallel items never share a meter.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields

from orch.errors import BackendError, ConfigError
from orch.records import Completion

__all__ = [
    "BudgetExceeded",
    "BudgetStop",
    "Budgets",
    "ItemSpend",
    "RunBudget",
    "budget_value",
    "current_spend",
    "parse_budget",
    "spending",
    "usd",
]


def usd(amount: float) -> str:
    """`$2.50`, or `$0.0123` for amounts under a dollar (API prices are fractions of a cent)."""
    return f"${amount:.2f}" if amount >= 1 else f"${amount:.4g}"


def budget_value(name: str, value: object, *, shown: str | None = None) -> float | None:
    """`value` if it is a usable budget (None: no budget); else a one-line `ConfigError` naming `name`
    (and the value as the user wrote it, `shown`).

    Zero or a negative budget would stop a run before its first item, and NaN compares false with
    everything, so each is refused rather than read as "no limit".
    """
    if value is None:
        return None
    given = shown if shown is not None else repr(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(name, None, f"must be a number, got {given}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(name, None, f"must be a positive, finite number, got {given}; leave it out for no limit")
    return float(value)


def parse_budget(name: str, text: str) -> float:
    """A budget given as text (a command-line flag), checked as `budget_value` checks it."""
    try:
        number: object = float(text)
    except ValueError:
        number = text
    value = budget_value(name, number, shown=repr(text) if isinstance(number, str) else text)
    return 0.0 if value is None else value  # never None: the text was given


@dataclass(frozen=True, kw_only=True, slots=True)
class Budgets:
    """The limits of one run and of each of its items; None is no limit. Checked on construction."""

    max_cost: float | None = None
    """US dollars this invocation may spend on model calls (cache hits are free) before no new item starts."""
    max_time: float | None = None
    """Seconds of wall time, from the first item's start, after which no new item starts."""
    item_max_cost: float | None = None
    """US dollars of one item's calls (cached calls at their original cost) after which it gets no further call."""
    item_max_time: float | None = None
    """Seconds of one item's wall time (waiting for an endpoint included) after which it is cut off."""

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, budget_value(f.name, getattr(self, f.name)))

    def params(self) -> dict[str, object]:
        """MLflow params: `budget.<name>`, empty when unset."""
        return {
            f"budget.{f.name}": "" if getattr(self, f.name) is None else getattr(self, f.name) for f in fields(self)
        }

    def describe(self) -> str:
        """`max_cost=2.5, item_max_time=30`, or `none`: the budgets of one invocation (a tag)."""
        set_ = [f"{f.name}={getattr(self, f.name):g}" for f in fields(self) if getattr(self, f.name) is not None]
        return ", ".join(set_) or "none"


class BudgetExceeded(BackendError):
    """A call refused because its item's cost budget is spent: a failed call, recorded as one."""


@dataclass(frozen=True, slots=True)
class BudgetStop:
    """Why a run stopped before all its items started."""

    reason: str
    """`cost $3.00 of $2.50` or `time 61.2 s of 60 s`."""
    not_started: int
    """Items (in an evaluation: system × item runs) that were not started."""

    def line(self, *, resumes: bool = True) -> str:
        """The run's closing line."""
        then = "run the same command again to continue" if resumes else "`orch run` starts over; `orch eval` resumes"
        return f"budget reached: {self.reason}; {self.not_started} items not started — {then}"


class RunBudget:
    """One run's spending against its `Budgets`: admits items while the budget lasts, then none.

    The clock starts when the first item is admitted, so starting servers never eats the budget; a
    stop is final within a run (cost and time only grow), so items always start in order.
    """

    def __init__(self, budgets: Budgets | None = None) -> None:
        self.budgets = budgets or Budgets()
        self.spent = 0.0
        """US dollars of the calls this invocation made (cache hits cost nothing)."""
        self.not_started = 0
        self._started: float | None = None
        self._reached: str | None = None
        self._reached_after = 0.0
        """Seconds from the first item to the moment the budget was found reached."""

    @property
    def elapsed(self) -> float:
        return 0.0 if self._started is None else time.monotonic() - self._started

    def reached(self) -> str | None:
        """`cost` or `time` once either budget is reached (and from then on), else None."""
        if self._reached is None:
            b = self.budgets
            if b.max_cost is not None and self.spent >= b.max_cost:
                self._reached = "cost"
            elif b.max_time is not None and self._started is not None and self.elapsed >= b.max_time:
                self._reached = "time"
            self._reached_after = self.elapsed
        return self._reached

    def admit(self) -> bool:
        """Whether a new item may start now; a refused item is counted as not started."""
        if self._started is None:
            self._started = time.monotonic()
        if self.reached() is None:
            return True
        self.not_started += 1
        return False

    def skip(self, items: int) -> None:
        """Count items that will not start because the budget was reached before they were reached."""
        self.not_started += items

    def charge(self, completion: Completion) -> None:
        if not completion.cached:
            self.spent += completion.cost

    def item(self) -> ItemSpend:
        """A meter for one item of this run, with the item budgets."""
        return ItemSpend(self.budgets.item_max_cost, self)

    def metrics(self) -> dict[str, float]:
        """What this invocation spent: `budget.cost_spent` (calls made), `budget.elapsed_s`, `items_not_started`."""
        return {
            "budget.cost_spent": self.spent,
            "budget.elapsed_s": self.elapsed,
            "items_not_started": self.not_started,
        }

    def tags(self) -> dict[str, str]:
        """`orch.stopped` (`budget` or `no`), its reason, and this invocation's budgets (`orch.budgets`):
        tags, not params, because a resumed run may be continued under other budgets."""
        stopped = self.stop()
        return {
            "orch.stopped": "budget" if stopped else "no",
            "orch.stopped_reason": stopped.reason if stopped else "",
            "orch.budgets": self.budgets.describe(),
        }

    def stop(self) -> BudgetStop | None:
        """What stopped the run, or None if every item started."""
        if not self.not_started or self._reached is None:
            return None
        b = self.budgets
        if self._reached == "cost":
            reason = f"cost {usd(self.spent)} of {usd(b.max_cost or 0.0)}"
        else:
            reason = f"time {self._reached_after:.1f} s of {b.max_time:g} s"
        return BudgetStop(reason, self.not_started)


@dataclass(slots=True)
class ItemSpend:
    """One item's calls and their cost, checked before each call against the item's cost budget."""

    limit: float | None = None
    run: RunBudget | None = None
    cost: float = 0.0
    """The measured cost of the item's calls, cached ones at their original cost: an item's budget
    is a property of its calls, so the same calls end the same way whatever the cache holds."""
    completions: list[Completion] = field(default_factory=list)

    def check(self) -> None:
        """Refuse the next call once the item has spent its budget.

        Raises:
            BudgetExceeded: the item's calls cost `limit` or more already.
        """
        if self.limit is not None and self.cost >= self.limit:
            raise BudgetExceeded(
                f"cost budget: the item's calls cost {usd(self.cost)} of {usd(self.limit)}; call not made"
            )

    def charge(self, completion: Completion) -> None:
        self.completions.append(completion)
        self.cost += completion.cost
        if self.run is not None:
            self.run.charge(completion)


_SPEND: ContextVar[ItemSpend | None] = ContextVar("orch_item_spend", default=None)
"""The item being answered in this task (LangGraph's node tasks inherit it from the item's task)."""


def current_spend() -> ItemSpend | None:
    """The meter of the item whose graph call is running in this task, if a budgeted run set one."""
    return _SPEND.get()


@contextmanager
def spending(spend: ItemSpend) -> Iterator[ItemSpend]:
    """Make `spend` the current item's meter for the calls made inside."""
    token = _SPEND.set(spend)
    try:
        yield spend
    finally:
        _SPEND.reset(token)
