"""Read YAML files into validated pydantic models with one-line, located errors."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from orch.errors import _LocatedError

__all__ = ["dotted", "load_model", "load_yaml_mapping"]

M = TypeVar("M", bound=BaseModel)


def dotted(loc: tuple[int | str, ...]) -> str:
    """Turn a pydantic error location into `nodes.merge.config[1].agent` form."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_yaml_mapping(path: Path, error: type[_LocatedError]) -> dict:
    """Parse a YAML file that must hold a mapping; syntax errors name the line."""
    if not path.is_file():
        raise error(path, None, "file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else None
        raise error(path, where, f"invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise error(path, None, f"must be a mapping at the top level, got {type(data).__name__}")
    return data


def load_model(model: type[M], data: dict, path: Path | str, error: type[_LocatedError]) -> M:
    """Validate `data` as `model`; the first problem becomes `file: dotted.key: message`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = "unknown field"
        elif first["type"] == "missing":
            message = "required field is missing"
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more problem{'s' * (more > 1)})" if more else ""
        raise error(path, dotted(loc), message + suffix) from exc
