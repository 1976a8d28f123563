"""The types a benchmark load produces and takes: `Dataset`, `ColumnMapping`, `DatasetWarning`.

They sit apart from the loaders (`orch.eval.datasets`) so the per-benchmark readers can build them
without importing the loaders that call those readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

from orch.items import LETTERS, Item

__all__ = ["ColumnMapping", "Dataset", "DatasetWarning"]


class DatasetWarning(UserWarning):
    """A dataset file is usable but odd (e.g. MMLU-Pro's `answer`/`answer_index` disagreement)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Dataset:
    """The items of one benchmark file, in the file's (or the benchmark's official) order."""

    name: str
    """`mmlu`, `mmlu-pro`, `mmlu-pro-validation`, `gsm8k`, or a custom file's stem."""
    items: tuple[Item, ...]
    sha256: str
    """sha256 of the source file's bytes: samples are keyed on it and manifests record it."""
    path: Path
    notes: tuple[str, ...] = ()
    """Warnings raised while loading (emitted once per file version), for the run's record."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))
        if len({item.id for item in self.items}) != len(self.items):
            raise ValueError(f"dataset {self.name!r}: item ids are not unique")

    def __len__(self) -> int:
        return len(self.items)

    @property
    def categories(self) -> tuple[str, ...]:
        """The distinct item categories, sorted by name (uncategorised items are not listed)."""
        return tuple(sorted({item.category for item in self.items if item.category is not None}))


class ColumnMapping(BaseModel):
    """Which columns of your own file hold what. Rows without options become numeric questions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str | None = None
    """Column of unique ids, used as `<stem>/<value>`; None numbers the rows: `<stem>/<row index>`."""
    question: str = "question"
    options: str | tuple[str, ...] | None = "options"
    """One column holding a list of option texts (in CSV a JSON list such as `["Paris", "Rome"]`), or
    several columns holding one option each in letter order (`["A", "B", "C", "D"]`; trailing empty
    cells allowed), or None when every question is numeric."""
    answer: str = "answer"
    """Gold: a letter, a 0-based index or an option's text (all stored as the letter); a number for
    rows without options."""
    category: str | None = None

    @field_validator("options")
    @classmethod
    def _check_options(cls, value: str | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
        if isinstance(value, tuple) and not 2 <= len(value) <= len(LETTERS):
            raise ValueError(f"give one list column or 2 to {len(LETTERS)} option columns, got {len(value)}")
        return value

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column this mapping reads, in a fixed order."""
        options = (self.options,) if isinstance(self.options, str) else self.options or ()
        return tuple(c for c in (self.id, self.question, *options, self.answer, self.category) if c is not None)
