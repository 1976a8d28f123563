"""The one typed record every question becomes, whatever its source."""

from __future__ import annotations

import string
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["LETTERS", "MAX_OPTION_CHARS", "MAX_QUESTION_CHARS", "Item"]

LETTERS = string.ascii_uppercase[:10]
"""Option letters A–J: MMLU has 4 options, MMLU-Pro up to 10."""

MAX_QUESTION_CHARS = 50_000
"""Far above any benchmark question (GSM8K and MMLU-Pro stay under 5,000) and far below what would
bloat every store a run writes: a 60 MB question is an input error, not a 300 MB mlflow.db."""
MAX_OPTION_CHARS = 5_000


class Item(BaseModel):
    """A discrete-choice question: multiple choice (options) or a final number (no options)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    """Stable id within its source, e.g. `mmlu/anatomy/12`."""
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    options: tuple[Annotated[str, Field(max_length=MAX_OPTION_CHARS)], ...] | None = None
    """Option texts in letter order (A, B, …); None for numeric questions."""
    answer: str | None = None
    """Gold answer: a letter for multiple choice, a normalised number otherwise; None if unknown."""
    category: str | None = None
    source: str = "user"

    @model_validator(mode="after")
    def _check(self) -> Item:
        if self.options is not None:
            if not 2 <= len(self.options) <= len(LETTERS):
                raise ValueError(f"options: need 2 to {len(LETTERS)} options, got {len(self.options)}")
            if self.answer is not None and self.answer not in self.letters:
                raise ValueError(f"answer: {self.answer!r} is not one of {list(self.letters)}")
        return self

    @property
    def kind(self) -> Literal["choice", "number"]:
        return "choice" if self.options is not None else "number"

    @property
    def letters(self) -> tuple[str, ...]:
        """The valid option letters of this item, e.g. ('A', 'B', 'C', 'D')."""
        return tuple(LETTERS[: len(self.options or ())])

    def option_text(self, letter: str) -> str:
        return (self.options or ())[self.letters.index(letter)]

    def render_options(self) -> str:
        return "\n".join(f"{letter}. {text}" for letter, text in zip(self.letters, self.options or (), strict=True))
