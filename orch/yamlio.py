"""Read YAML files into validated pydantic models with one-line, located errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from orch.errors import _LocatedError

__all__ = ["dotted", "load_model", "load_yaml_mapping"]

M = TypeVar("M", bound=BaseModel)

_NAMED = re.compile(r"^Value error, ([A-Za-z_][\w-]*(?:\.[\w-]+|\[\d+\])*): (.+)$", re.DOTALL)
"""A model validator's message that starts with the dotted key it is about."""


def dotted(loc: tuple[int | str, ...]) -> str:
    """Turn a pydantic error location into `nodes.merge.config[1].agent` form."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_yaml_mapping(path: Path, error: type[_LocatedError]) -> dict:
    """Parse a YAML file that must hold a mapping; syntax errors name the line."""
    if path.is_dir():
        raise error(path, None, "is a folder, not a file; give the path of a .yaml file")
    if not path.is_file():
        raise error(path, None, "file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error(path, None, f"not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from exc
    except OSError as exc:  # unreadable: permissions, a folder swapped in since the check
        raise error(path, None, f"cannot read the file: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(path, _yaml_line(exc, text), f"invalid YAML: {_yaml_problem(exc)}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise error(path, None, f"must be a mapping at the top level, got {type(data).__name__}")
    return data


def _yaml_line(exc: yaml.YAMLError, text: str) -> str | None:
    """`line N` (from 1) of a YAML error: its problem mark, or a reader error's character position."""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return f"line {mark.line + 1}"
    position = getattr(exc, "position", None)
    return f"line {text.count(chr(10), 0, position) + 1}" if isinstance(position, int) else None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    return getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]


def load_model(model: type[M], data: dict, path: Path | str, error: type[_LocatedError]) -> M:
    """Validate `data` as `model`; the first problem becomes `file: dotted.key: message`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = "unknown field"
        elif first["type"] == "missing":
            message = "required field is missing"
        where = dotted(loc)
        if not loc and (named := _NAMED.match(message)):  # a model validator naming its field: `panel: …`
            where, message = named.group(1), named.group(2)
        message = message.removeprefix("Value error, ")  # pydantic's wording for our own ValueErrors
        # a list that came out too short because its item failed is the same problem, not another one
        more = sum(1 for e in errors[1:] if tuple(e["loc"]) != first["loc"][: len(e["loc"])])
        suffix = f" (and {more} more problem{'s' * (more > 1)})" if more else ""
        raise error(path, where, message + suffix) from exc
