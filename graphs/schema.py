"""The JSON schema editors validate specs with: the spec's shape, and each built-in node type's
own config (so `max_char: 300` under an `analyze` node is flagged as you type)."""

from __future__ import annotations

import copy
from typing import Any

from orch.graphs.kinds import NODE_KINDS, NodeRegistry
from orch.graphs.spec import GraphSpec

__all__ = ["graph_json_schema"]


def graph_json_schema(registry: NodeRegistry = NODE_KINDS) -> dict[str, Any]:
    """`GraphSpec`'s schema with a node's `config` checked against its `type`'s `Config`.

    A node of a built-in type gets that kind's config schema; any other type (a dotted path to a
    user's kind) keeps a free-form config, since its class is only known when the spec compiles.
    """
    schema = GraphSpec.model_json_schema()
    defs = schema.setdefault("$defs", {})
    node = defs["NodeSpec"]
    variants: list[dict[str, Any]] = []
    for name, kind in registry.items():
        config = kind.Config.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(config.pop("$defs", {}))
        defs[kind.Config.__name__] = config
        variant = copy.deepcopy(node)
        variant["title"] = f"{name} node"
        variant["properties"]["type"] = {"const": name}
        variant["properties"]["config"] = {"$ref": f"#/$defs/{kind.Config.__name__}"}
        variants.append(variant)
    custom = copy.deepcopy(node)
    custom["title"] = "a node of your own kind"
    custom["properties"]["type"] = {"type": "string", "pattern": r"^[A-Za-z_][\w.]*[:.][A-Za-z_]\w*$"}
    variants.append(custom)
    short = {"type": "string", "enum": list(registry.kinds), "description": "short for {type: NAME}"}
    schema["properties"]["nodes"]["additionalProperties"] = {"anyOf": [*variants, short]}
    del defs["NodeSpec"]
    return schema
