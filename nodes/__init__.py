"""Graph nodes: each kind is a pydantic `Config`, declared outputs, and one async call.

Built-in kinds register themselves on import: `analyze`, `merge`, `direct`, `vote`, `decompose`.
"""

from orch.nodes.analyze import Analyze, AnalyzeConfig
from orch.nodes.base import NODE_REGISTRY, Node, NodeConfig, NodeRegistry, register_node
from orch.nodes.decompose import Decompose, DecomposeConfig
from orch.nodes.direct import Direct, DirectConfig
from orch.nodes.merge import Merge, MergeConfig
from orch.nodes.prompts import PROMPT_VERSION
from orch.nodes.runtime import RunContext
from orch.nodes.state import AgentOutput, Analysis, Decision, OrchState, Usage
from orch.nodes.vote import Vote, VoteConfig

__all__ = [
    "NODE_REGISTRY",
    "PROMPT_VERSION",
    "AgentOutput",
    "Analysis",
    "Analyze",
    "AnalyzeConfig",
    "Decision",
    "Decompose",
    "DecomposeConfig",
    "Direct",
    "DirectConfig",
    "Merge",
    "MergeConfig",
    "Node",
    "NodeConfig",
    "NodeRegistry",
    "OrchState",
    "RunContext",
    "Usage",
    "Vote",
    "VoteConfig",
    "register_node",
]

# The router's node kinds (`route`, `feedback`) live with the router; importing them registers them.
import orch.routers.nodes  # noqa: F401
