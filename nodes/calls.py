"""Small helpers shared by the nodes that call models."""

from __future__ import annotations

from orch.backends.chat import Completion
from orch.nodes.state import Usage

__all__ = ["usage_of"]


def usage_of(*completions: Completion) -> Usage:
    total = Usage()
    for c in completions:
        total = total + Usage(
            calls=1,
            input_tokens=c.input_tokens,
            output_tokens=c.output_tokens,
            cost=c.cost,
            latency_ms=c.latency_ms,
            queued_ms=c.queued_ms,
        )
    return total
