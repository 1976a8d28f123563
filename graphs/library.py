"""The graphs shipped with orch (`graphs/*.yaml`) and lookup by name or path."""

from __future__ import annotations

from pathlib import Path

from orch.errors import SpecError, did_you_mean
from orch.graphs.spec import GraphSpec

__all__ = ["BUILTIN_DIR", "builtin_graphs", "load_graph_spec"]

BUILTIN_DIR = Path(__file__).parent


def builtin_graphs() -> dict[str, Path]:
    """Built-in spec files by graph name."""
    return {path.stem: path for path in sorted(BUILTIN_DIR.glob("*.yaml"))}


def load_graph_spec(name_or_path: str | Path) -> tuple[GraphSpec, Path]:
    """A built-in graph by name, or a spec file by path.

    Raises:
        SpecError: neither a built-in name nor an existing file, or the file is malformed.
    """
    candidate = Path(name_or_path)
    builtins = builtin_graphs()
    if str(name_or_path) in builtins:
        path = builtins[str(name_or_path)]
    elif candidate.suffix in (".yaml", ".yml") or candidate.exists():
        path = candidate
    else:
        raise SpecError(
            name_or_path,
            None,
            f"no such graph.{did_you_mean(str(name_or_path), builtins)} "
            f"Built-in graphs: {list(builtins)}; or give a path to a .yaml spec",
        )
    return GraphSpec.from_file(path), path
