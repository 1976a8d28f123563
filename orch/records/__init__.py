"""The records every layer shares: what a call, an analysis, a decision, a routing choice and a
finished item look like. A leaf package: it imports nothing of orch but `Item`, so the backends,
the nodes, the router and the evaluation all speak the same vocabulary.
"""

from orch.records.calls import Completion, LabelLogprobs, ParsePath, Usage
from orch.records.outputs import AgentOutput, Analysis, Decision, Dispatch, Task
from orch.records.results import ItemResult, ItemStatus
from orch.records.routing import FeedbackRecord, Observation, RoutingDecision

__all__ = [
    "AgentOutput",
    "Analysis",
    "Completion",
    "Decision",
    "Dispatch",
    "FeedbackRecord",
    "ItemResult",
    "ItemStatus",
    "LabelLogprobs",
    "Observation",
    "ParsePath",
    "RoutingDecision",
    "Task",
    "Usage",
]
