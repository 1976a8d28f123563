"""The graphs shipped with orch (`graphs/*.yaml`) and lookup by name or path."""

from __future__ import annotations

from pathlib import Path

from orch.config import PoolConfig
from orch.errors import SpecError, did_you_mean
from orch.graphs.graph import Graph
from orch.graphs.spec import GraphSpec

__all__ = ["BUILTIN_DIR", "builtin_graphs", "load_graph"]

BUILTIN_DIR = Path(__file__).parent


def builtin_graphs() -> dict[str, Path]:
    """Built-in spec files by graph name."""
    return {path.stem: path for path in sorted(BUILTIN_DIR.glob("*.yaml"))}


def load_graph(name_or_path: str | Path | Graph, *, pool: PoolConfig | None = None) -> Graph:
    """A built-in graph by name, a spec file by path, or a `Graph` you built (checked against `pool`).

    Raises:
        SpecError: neither a built-in name nor an existing file, or the spec is malformed.
    """
    if isinstance(name_or_path, Graph):
        return name_or_path.check(pool) if pool is not None else name_or_path
    candidate = Path(name_or_path)
    builtins = builtin_graphs()
    if str(name_or_path) in builtins:
        path = builtins[str(name_or_path)]
    elif candidate.suffix in (".yaml", ".yml") or candidate.exists():
        path = candidate
        if path.is_dir():
            raise SpecError(path, None, "is a folder, not a graph spec file")
    else:
        raise SpecError(
            name_or_path,
            None,
            f"no such graph.{did_you_mean(str(name_or_path), builtins)} "
            f"Built-in graphs: {list(builtins)}; or give a path to a .yaml spec",
        )
    return Graph(GraphSpec.from_file(path), source=path, pool=pool)
