"""Errors sorted by who must act.

`SpecError`, `ConfigError` and `DatasetError` are the user's to fix: each names the file and the
field or line. `BackendError` means an endpoint or a local server failed (an unreadable reply is
not an error: it goes down the reading ladder and is recorded). The CLI prints any `OrchError` as
one line and exits 2; anything else is our bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "BackendError",
    "ConfigError",
    "DatasetError",
    "OrchError",
    "SpecError",
    "did_you_mean",
]


class OrchError(Exception):
    """Base of every error orch raises on purpose."""


class _LocatedError(OrchError):
    """An error in a user's file: `file: where: what`."""

    def __init__(self, file: object, where: str | None, message: str) -> None:
        self.file = str(file)
        self.where = where
        self.message = message
        location = f"{self.file}: {where}" if where else self.file
        super().__init__(f"{location}: {message}")


class SpecError(_LocatedError):
    """A graph spec is malformed: names the spec file and the dotted key."""


class ConfigError(_LocatedError):
    """A pool config, settings value or mlflow.yaml is malformed: names the file and the field."""


class DatasetError(_LocatedError):
    """A dataset file is missing or malformed: names the file and the line or row."""


class BackendError(OrchError):
    """An OpenAI-compatible endpoint or a managed llama.cpp server failed."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ` Did you mean 'x'?` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
