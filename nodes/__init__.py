"""Graph nodes: each kind is a `Node[Config]` whose call reads the state and returns updates.

Built-in kinds: `analyze`, `merge`, `direct`, `vote`, `weigh`, `decompose` (and the router's `route` and
`feedback` in `orch.routers`). Specs name them through `orch.graphs.kinds`; your own kind is a
subclass of `Node` referenced by dotted path.
"""

from orch.nodes.analyze import Analyze, AnalyzeConfig
from orch.nodes.base import AgentRef, CallLog, Node, NodeConfig
from orch.nodes.context import RunContext
from orch.nodes.decompose import Decompose, DecomposeConfig
from orch.nodes.direct import Direct, DirectConfig
from orch.nodes.merge import Merge, MergeConfig
from orch.nodes.prompts import PROMPT_VERSION
from orch.nodes.state import OrchState, analyses_of, item_of
from orch.nodes.vote import Vote, VoteConfig
from orch.nodes.weigh import Weigh, WeighConfig

__all__ = [
    "PROMPT_VERSION",
    "AgentRef",
    "Analyze",
    "AnalyzeConfig",
    "CallLog",
    "Decompose",
    "DecomposeConfig",
    "Direct",
    "DirectConfig",
    "Merge",
    "MergeConfig",
    "Node",
    "NodeConfig",
    "OrchState",
    "RunContext",
    "Vote",
    "VoteConfig",
    "Weigh",
    "WeighConfig",
    "analyses_of",
    "item_of",
]
