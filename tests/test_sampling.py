"""Hash-stable samples: membership depends on (dataset sha256, seed, item id) only; presets nest."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from orch.errors import DatasetError
from orch.eval.datasets import Dataset, load_benchmark
from orch.eval.sampling import PAPER_MMLU_SUBJECTS, SamplePreset, parse_exclusion, parse_sample, sample, sample_key
from orch.items import Item

SHA = "5" * 64
REAL_DATA = Path(os.environ.get("ORCH_REAL_DATA_DIR", Path(__file__).parents[2] / "shared" / "data"))


def make(name: str, sizes: dict[str | None, int], sha: str = SHA, n_options: int | None = None) -> Dataset:
    """A dataset of `sizes[category]` items per category, categories interleaved as in a real file;
    MMLU-Pro's items have 10 options (what `paper` samples there), others 2, unless `n_options` says."""
    n_options = n_options or (10 if name.startswith("mmlu-pro") else 2)
    items = []
    for index in range(max(sizes.values())):
        for category, size in sizes.items():
            if index < size:
                items.append(
                    Item(
                        id=f"{name}/{category or 'none'}/{index}",
                        question=f"q {index}",
                        options=tuple("abcdefghij"[:n_options]),
                        answer="A",
                        category=category,
                    )
                )
    return Dataset(name=name, items=tuple(items), sha256=sha, path=Path(f"{name}.jsonl"))


def subset(dataset: Dataset, keep: set[str]) -> Dataset:
    """The same file version (sha256) with fewer items."""
    items = tuple(i for i in dataset.items if i.id in keep)
    return Dataset(name=dataset.name, items=items, sha256=dataset.sha256, path=dataset.path)


def smallest_keys(items: list[Item], k: int, sha: str = SHA, seed: int = 0) -> set[str]:
    """An independent oracle for one stratum: the k ids with the smallest sha256 keys."""
    keyed = sorted(items, key=lambda i: hashlib.sha256(f"{sha}:{seed}:{i.id}".encode()).hexdigest())
    return {i.id for i in keyed[:k]}


MMLU = make("mmlu", {s: 40 for s in (*PAPER_MMLU_SUBJECTS, "astronomy", "virology")})


# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "preset"),
    [
        ("paper", SamplePreset("paper")),
        ("paper:30", SamplePreset("paper", 30)),
        (" stratified:100 ", SamplePreset("stratified", 100)),
        ("first:5", SamplePreset("first", 5)),
        ("all", SamplePreset("all")),
    ],
)
def test_parse_sample(spec: str, preset: SamplePreset) -> None:
    assert parse_sample(spec) == preset
    assert str(preset) == spec.strip()


FORMS = "valid forms: paper, paper:N, stratified:N, first:N, all"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("stratifed:10", f"unknown preset 'stratifed:10'; {FORMS}. Did you mean 'stratified'?"),
        ("random:10", f"unknown preset 'random:10'; {FORMS}."),
        ("", f"unknown preset ''; {FORMS}."),
        ("stratified", f"'stratified' needs a size such as stratified:100; {FORMS}"),
        ("first", f"'first' needs a size such as first:100; {FORMS}"),
        ("all:3", f"'all:3': 'all' takes no size; {FORMS}"),
        ("paper:0", f"'paper:0': N must be a positive whole number; {FORMS}"),
        ("paper:-3", f"'paper:-3': N must be a positive whole number; {FORMS}"),
        ("first:ten", f"'first:ten': N must be a positive whole number; {FORMS}"),
        ("first:1.5", f"'first:1.5': N must be a positive whole number; {FORMS}"),
    ],
)
def test_parse_sample_rejects_bad_presets(spec: str, message: str) -> None:
    with pytest.raises(DatasetError) as caught:
        parse_sample(spec)
    assert str(caught.value) == f"--sample: {message}"


# --------------------------------------------------------------------------------------------------
# Keys, order, determinism
# --------------------------------------------------------------------------------------------------


def test_sample_key_is_the_documented_sha256() -> None:
    assert sample_key(SHA, 7, "mmlu/anatomy/3") == hashlib.sha256(f"{SHA}:7:mmlu/anatomy/3".encode()).hexdigest()


def test_a_stratum_takes_its_smallest_keys_and_the_sample_keeps_dataset_order() -> None:
    got = sample(MMLU, "paper:30", seed=3)
    for subject in PAPER_MMLU_SUBJECTS:
        stratum = [i for i in MMLU.items if i.category == subject]
        assert {i.id for i in got.items if i.category == subject} == smallest_keys(stratum, 3, seed=3)
    positions = [MMLU.items.index(i) for i in got.items]
    assert positions == sorted(positions)


def test_same_inputs_same_sample_other_seed_or_file_other_sample() -> None:
    base = sample(MMLU, "paper:30").ids
    assert sample(MMLU, "paper:30", seed=0).ids == base
    assert sample(MMLU, "paper:30", seed=1).ids != base
    assert sample(make("mmlu", {s: 40 for s in PAPER_MMLU_SUBJECTS}, sha="6" * 64), "paper:30").ids != base


# --------------------------------------------------------------------------------------------------
# paper
# --------------------------------------------------------------------------------------------------


def test_paper_on_mmlu_is_ten_fixed_subjects_times_thirty() -> None:
    got = sample(MMLU, "paper")
    assert len(got) == 300
    assert got.strata == tuple((s, 30) for s in PAPER_MMLU_SUBJECTS)
    assert {i.category for i in got.items} == set(PAPER_MMLU_SUBJECTS)  # not astronomy or virology


def test_paper_n_spreads_the_remainder_over_the_first_subjects() -> None:
    assert [n for _, n in sample(MMLU, "paper:30").strata] == [3] * 10
    assert [n for _, n in sample(MMLU, "paper:34").strata] == [4, 4, 4, 4, 3, 3, 3, 3, 3, 3]
    assert [n for _, n in sample(MMLU, "paper:7").strata] == [1] * 7 + [0] * 3


def test_paper_samples_nest_for_every_n() -> None:
    previous: set[str] = set()
    for n in range(1, 301):
        ids = set(sample(MMLU, f"paper:{n}", seed=5).ids)
        assert len(ids) == n
        assert previous < ids, n
        previous = ids
    assert previous == set(sample(MMLU, "paper", seed=5).ids)


def test_paper_on_mmlu_pro_takes_the_ten_largest_categories() -> None:
    sizes = {f"c{k:02d}": 40 + k for k in range(12)}  # c00 and c01 are the two smallest
    sizes["c05"] = 41  # ties c01 on size; c01 wins on name
    got = sample(make("mmlu-pro", sizes), "paper:20")
    assert [label for label, _ in got.strata] == ["c01", "c02", "c03", "c04", "c06", "c07", "c08", "c09", "c10", "c11"]
    assert [n for _, n in got.strata] == [2] * 10


def test_paper_on_mmlu_pro_samples_ten_option_items_only_and_records_it() -> None:
    ten = make("mmlu-pro", {f"c{k:02d}": 6 for k in range(10)}).items
    four = make("mmlu-pro-4", {"c00": 9, "c10": 9}, n_options=4).items
    # over all items c10 and c00 are the largest categories; among 10-option items c10 has none
    dataset = Dataset(name="mmlu-pro", items=(*ten, *four), sha256=SHA, path=Path("mmlu-pro.parquet"))
    got = sample(dataset, "paper:20")
    assert [label for label, _ in got.strata] == [f"c{k:02d}" for k in range(10)]
    assert {len(item.options or ()) for item in got.items} == {10}
    assert got.options == 10 and got.manifest()["options"] == 10
    wider = sample(dataset, "stratified:40")  # only `paper` filters: other presets see every item
    assert wider.options is None and {len(i.options or ()) for i in wider.items} == {4, 10}
    with pytest.raises(DatasetError, match="needs 7 items of 'c00' but mmlu-pro has only 6 with 10 options"):
        sample(dataset, "paper:70")


def test_paper_on_gsm8k_is_three_hundred_items() -> None:
    gsm8k = make("gsm8k", {"gsm8k": 500})
    got = sample(gsm8k, "paper")
    assert got.strata == (("gsm8k", 300),)
    assert set(got.ids) == smallest_keys(list(gsm8k.items), 300)


@pytest.mark.parametrize(
    ("dataset", "preset", "message"),
    [
        (
            make("mmlu", {s: 20 for s in PAPER_MMLU_SUBJECTS}),
            "paper",
            "'paper' needs 30 items of 'abstract_algebra' but mmlu has only 20",
        ),
        (
            make("mmlu", {"anatomy": 40}),
            "paper:10",
            "'paper' needs the MMLU subjects ['abstract_algebra', 'business_ethics', ",
        ),
        (make("mmlu-pro", {"a": 5, "b": 5}), "paper:2", "'paper' needs 10 categories but mmlu-pro has 2"),
        (
            make("mine", {"a": 500}),
            "paper",
            "'paper' is defined for mmlu, mmlu-pro and gsm8k, not 'mine'; use stratified:N",
        ),
    ],
)
def test_paper_errors(dataset: Dataset, preset: str, message: str) -> None:
    with pytest.raises(DatasetError) as caught:
        sample(dataset, preset)
    assert str(caught.value).startswith(f"--sample: {message}")


# --------------------------------------------------------------------------------------------------
# stratified, first, all
# --------------------------------------------------------------------------------------------------


def test_stratified_redistributes_what_a_small_category_cannot_give() -> None:
    dataset = make("mine", {"b": 10, "a": 2, "c": 10})
    assert sample(dataset, "stratified:6").strata == (("a", 2), ("b", 2), ("c", 2))
    assert sample(dataset, "stratified:12").strata == (("a", 2), ("b", 5), ("c", 5))
    assert sample(dataset, "stratified:13").strata == (("a", 2), ("b", 6), ("c", 5))
    assert sample(dataset, "stratified:22").strata == (("a", 2), ("b", 10), ("c", 10))


def test_stratified_samples_nest_for_every_n() -> None:
    dataset = make("mine", {"b": 10, "a": 2, "c": 7, None: 4})
    previous: set[str] = set()
    for n in range(1, len(dataset) + 1):
        got = sample(dataset, f"stratified:{n}", seed=2)
        assert len(got) == n and previous < set(got.ids), n
        previous = set(got.ids)
    assert got.strata[-1] == (None, 4)  # uncategorised items form the last stratum


def test_stratified_without_categories_is_a_plain_hash_sample() -> None:
    dataset = make("mine", {None: 50})
    assert set(sample(dataset, "stratified:7", seed=9).ids) == smallest_keys(list(dataset.items), 7, seed=9)


def test_first_and_all_follow_dataset_order() -> None:
    assert sample(MMLU, "first:3").ids == tuple(i.id for i in MMLU.items[:3])
    assert sample(MMLU, "all").ids == tuple(i.id for i in MMLU.items)
    assert sample(MMLU, "first:3").strata == ()


@pytest.mark.parametrize(
    ("preset", "exclude", "message"),
    [
        ("first:481", (), "'first:481' asks for 481 items but mmlu has only 480"),
        ("stratified:481", (), "'stratified:481' asks for 481 items but mmlu has only 480"),
        (
            "stratified:480",
            ("mmlu/anatomy/0",),
            "'stratified:480' asks for 480 items but mmlu has only 479 after excluding 1 ids",
        ),
        ("paper:400", (), "'paper:400' needs 40 items of 'abstract_algebra' but mmlu has only 40"),
    ],
)
def test_asking_for_more_than_there_is_is_an_error(preset: str, exclude: tuple[str, ...], message: str) -> None:
    if preset == "paper:400":  # exactly enough: fine; one excluded item makes it short
        assert len(sample(MMLU, preset)) == 400
        exclude, message = ("mmlu/abstract_algebra/0",), message.replace("only 40", "only 39 after excluding 1 ids")
    with pytest.raises(DatasetError) as caught:
        sample(MMLU, preset, exclude=exclude)
    assert str(caught.value) == f"--sample: {message}"


# --------------------------------------------------------------------------------------------------
# Stability and exclusion
# --------------------------------------------------------------------------------------------------


def test_removing_unsampled_items_leaves_the_sample_unchanged() -> None:
    for preset in ("paper:50", "stratified:40"):
        got = set(sample(MMLU, preset).ids)
        unsampled = sorted(i.id for i in MMLU.items if i.id not in got)
        smaller = subset(MMLU, got | set(unsampled[::3]))  # drop two thirds of the others
        assert set(sample(smaller, preset).ids) == got, preset


def test_adding_items_never_changes_the_paper_sample_of_other_strata() -> None:
    small = make("mmlu", {s: 35 for s in PAPER_MMLU_SUBJECTS})
    bigger = make("mmlu", {**{s: 35 for s in PAPER_MMLU_SUBJECTS}, "astronomy": 100, "virology": 90})
    assert sample(small, "paper").ids == sample(bigger, "paper").ids


def test_adding_items_only_displaces_by_smaller_keys() -> None:
    small, big = make("gsm8k", {"gsm8k": 100}), make("gsm8k", {"gsm8k": 400})
    before, after = set(sample(small, "paper:50").ids), set(sample(big, "paper:50").ids)
    assert after & set(i.id for i in small.items) <= before  # an old item never enters
    worst_kept = max(sample_key(SHA, 0, i) for i in after)
    for lost in before - after:  # each one lost was beaten by new items with smaller keys
        assert sample_key(SHA, 0, lost) > worst_kept


def test_dev_split_excluding_the_paper_sample_is_disjoint_and_stable() -> None:
    paper = sample(MMLU, "paper")
    dev = sample(MMLU, "stratified:100", exclude=paper.ids)
    assert len(dev) == 100 and not set(dev.ids) & set(paper.ids)
    assert {label for label, _ in dev.strata} == {*PAPER_MMLU_SUBJECTS, "astronomy", "virology"}
    assert dev.excluded == tuple(sorted(paper.ids))
    # the same as sampling a dataset that never had those items
    assert dev.ids == sample(subset(MMLU, {i.id for i in MMLU.items} - set(paper.ids)), "stratified:100").ids


def test_an_exclusion_names_the_seed_of_the_sample_it_removes() -> None:
    """A dev split at seed 1 must remove the paper sample reported at seed 0, not paper@1."""
    assert parse_exclusion("paper", 1) == (SamplePreset("paper"), 1)
    assert parse_exclusion("paper:60@0", 1) == (SamplePreset("paper", 60), 0)
    reported = set(sample(MMLU, "paper", 0).ids)
    preset, seed = parse_exclusion("paper@0", 1)
    dev = sample(MMLU, "stratified:150", 1, exclude=sample(MMLU, preset, seed).ids)
    assert not set(dev.ids) & reported
    same_seed = sample(MMLU, "stratified:150", 1, exclude=sample(MMLU, "paper", 1).ids)
    assert set(same_seed.ids) & reported  # what `paper` alone removes at seed 1 overlaps seed 0's sample
    with pytest.raises(DatasetError, match="the seed after @ must be a whole number"):
        parse_exclusion("paper@x", 0)


def test_exclude_refuses_unknown_ids_and_bare_strings() -> None:
    with pytest.raises(DatasetError) as caught:
        sample(MMLU, "all", exclude=["mmlu/anatomy/0", "gsm8k/1", "mmlu/anatomy/999"])
    assert str(caught.value) == "--exclude: 2 id(s) are not in mmlu, e.g. 'gsm8k/1'"
    with pytest.raises(TypeError, match="not a single string"):
        sample(MMLU, "all", exclude="mmlu/anatomy/0")


def test_manifest() -> None:
    got = sample(MMLU, "paper:20", seed=4, exclude=["mmlu/virology/0"])
    manifest = json.loads(json.dumps(got.manifest()))
    assert manifest["item_ids"] == list(got.ids)
    assert manifest["item_ids_sha256"] == hashlib.sha256("\n".join(got.ids).encode()).hexdigest()
    assert manifest["excluded_ids_sha256"] == hashlib.sha256(b"mmlu/virology/0").hexdigest()
    assert {k: manifest[k] for k in ("dataset", "dataset_sha256", "preset", "seed", "n", "excluded")} == {
        "dataset": "mmlu",
        "dataset_sha256": SHA,
        "preset": "paper:20",
        "seed": 4,
        "n": 20,
        "excluded": 1,
    }
    assert manifest["strata"] == [[s, 2] for s in PAPER_MMLU_SUBJECTS]


# --------------------------------------------------------------------------------------------------
# The real benchmarks
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "strata"),
    [
        ("mmlu", list(PAPER_MMLU_SUBJECTS)),
        (
            "mmlu-pro",
            [  # among the 10-option items biology (617) outnumbers health (598), unlike among all items
                "biology",
                "business",
                "chemistry",
                "economics",
                "engineering",
                "law",
                "math",
                "other",
                "physics",
                "psychology",
            ],
        ),
        ("gsm8k", ["gsm8k"]),
    ],
)
@pytest.mark.filterwarnings("ignore::orch.eval.datasets.DatasetWarning")
def test_paper_on_the_real_benchmarks(name: str, strata: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_DATA_DIR", str(REAL_DATA))
    try:
        dataset = load_benchmark(name)
    except DatasetError as exc:
        if "file not found" not in exc.message and "install it with" not in exc.message:
            raise
        pytest.skip(f"real file absent: {exc}")
    paper = sample(dataset, "paper")
    assert len(paper) == 300 and [label for label, _ in paper.strata] == strata
    if name == "mmlu-pro":
        assert {len(item.options or ()) for item in paper.items} == {10}
    assert {n for _, n in paper.strata} == {300 // len(strata)}
    assert set(sample(dataset, "paper:30").ids) < set(sample(dataset, "paper:60").ids) < set(paper.ids)
    dev = sample(dataset, "stratified:100", exclude=paper.ids)
    assert len(dev) == 100 and not set(dev.ids) & set(paper.ids)
