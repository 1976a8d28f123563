"""Row readers, one per file format: each returns the file's columns and its rows as (location, row)
pairs.

Locations follow the editor or pandas convention of each format (`line N` from 1 for JSON Lines,
`row N` from 0 for CSV and Parquet), so an error message points where the user will look.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from orch.errors import DatasetError

__all__ = ["READERS", "Rows", "csv_rows", "jsonl_records", "jsonl_rows", "parquet_rows"]

Rows = list[tuple[str, dict[str, Any]]]
"""(location, row) pairs: `line N` or `row N`, and the row's cells by column."""


def jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each non-blank line as (line number, object); a line that is not a JSON object fails."""
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


def jsonl_rows(path: Path, _wanted: tuple[str, ...]) -> tuple[list[str], Rows]:
    """A JSON Lines file's rows; its columns are every key seen, in order of first use."""
    records = list(jsonl_records(path))
    columns = list(dict.fromkeys(key for _, record in records for key in record))
    return columns, [(f"line {line_no}", record) for line_no, record in records]


def csv_rows(path: Path, _wanted: tuple[str, ...]) -> tuple[list[str], Rows]:
    """A CSV file's rows (a BOM is dropped); a row with more fields than the header fails."""
    rows: Rows = []
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


def parquet_rows(path: Path, wanted: tuple[str, ...]) -> tuple[list[str], Rows]:
    """A Parquet file's rows, reading only the `wanted` columns it has."""
    try:
        parquet = pq.ParquetFile(path)  # not pq.read_table, which imports pyarrow.dataset (~1 s)
        columns = list(parquet.schema_arrow.names)
        table = parquet.read(columns=[c for c in dict.fromkeys(wanted) if c in columns])
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(path, None, f"not a readable Parquet file: {exc}".splitlines()[0]) from exc
    return columns, [(f"row {index}", row) for index, row in enumerate(table.to_pylist())]


READERS: dict[str, Callable[[Path, tuple[str, ...]], tuple[list[str], Rows]]] = {
    ".jsonl": jsonl_rows,
    ".csv": csv_rows,
    ".parquet": parquet_rows,
}
"""Row reader by lower-case file suffix."""
