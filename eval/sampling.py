"""Hash-stable samples of a `Dataset`, so runs resume, extend and reproduce across machines.

Each item gets a key, `sha256(f"{dataset_sha256}:{seed}:{item.id}")`, and a sample takes, within each
stratum, the items with the smallest keys (ties, which need a sha256 collision, go by id). An item's
key depends only on the file version, the seed and its own id, never on RNG state or on the other
items (the file's sha256 ties a sample to one version of it: an edited file is sampled afresh). So:
- removing items that were not sampled (`exclude`, a filtered dataset) leaves the sample unchanged,
  and adding items can only displace a sampled item by a new one with a smaller key;
- a larger sample of the same strata contains the smaller one: `paper:30` ⊂ `paper:60` ⊂ `paper`,
  and likewise `stratified:N` ⊂ `stratified:M` for N < M.

A sample lists its items in dataset order, whatever the preset, so `first:N` and `all` read the same
way as the hashed presets and a sample's order never depends on the seed.

Presets (`parse_sample`):
- `paper`: MMLU 10 fixed subjects × 30, MMLU-Pro 30 of its 10-option items from each of the 10
  categories with most of them (the paper sampled 10-option items only; the sample records the
  filter as `options`), GSM8K 300 items.
- `paper:N`: the same strata, N items spread evenly (remainder to the first strata, by name). A
  stratum with too few items is an error: the paper design is never silently rebalanced.
- `stratified:N`: N items over all categories sorted by name (uncategorised items last), spread
  evenly; a category with too few items gives all it has and the rest is spread over the others.
- `first:N`: the first N items in dataset order. `all`: every item.
Asking for more items than there are (after `exclude`) is an error for every preset.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from orch.errors import DatasetError, did_you_mean
from orch.eval.datasets import Dataset
from orch.items import Item

__all__ = [
    "PAPER_MMLU_PRO_OPTIONS",
    "PAPER_MMLU_SUBJECTS",
    "PAPER_SIZE",
    "Sample",
    "SamplePreset",
    "parse_sample",
    "sample",
    "sample_key",
]

PresetKind = Literal["paper", "stratified", "first", "all"]

PAPER_MMLU_SUBJECTS = (
    "abstract_algebra",
    "anatomy",
    "business_ethics",
    "clinical_knowledge",
    "college_mathematics",
    "computer_security",
    "econometrics",
    "jurisprudence",
    "machine_learning",
    "moral_scenarios",
)
"""The paper's 10 MMLU subjects (30 items each)."""
PAPER_MMLU_PRO_OPTIONS = 10
"""`paper` on MMLU-Pro takes only items with this many options, as the paper did (its test split also
has 3- to 9-option items, about 17%)."""
PAPER_SIZE = 300
"""Items in `paper`: 10 strata × 30, or 300 GSM8K items."""
_PAPER_STRATA = 10
_FORMS = "valid forms: paper, paper:N, stratified:N, first:N, all"


@dataclass(frozen=True, slots=True)
class SamplePreset:
    """A parsed `--sample` value; `str()` gives it back in canonical form."""

    kind: PresetKind
    n: int | None = None
    """How many items; None for `all`, and for `paper` meaning `PAPER_SIZE`."""

    def __str__(self) -> str:
        return self.kind if self.n is None else f"{self.kind}:{self.n}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    """The items a preset picked from a dataset, with what it takes to reproduce the pick."""

    dataset: str
    dataset_sha256: str
    preset: str
    seed: int
    items: tuple[Item, ...]
    """In dataset order."""
    strata: tuple[tuple[str | None, int], ...] = ()
    """Items taken per stratum, in stratum order; empty for `first:N` and `all`. None labels the
    uncategorised items."""
    excluded: tuple[str, ...] = ()
    """The ids removed before sampling, sorted."""
    options: int | None = None
    """Only items with exactly this many options were eligible (`paper` on MMLU-Pro: 10); None: all."""

    def __len__(self) -> int:
        return len(self.items)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(item.id for item in self.items)

    def manifest(self) -> dict[str, Any]:
        """A JSON-ready record: dataset, file sha256, preset, seed, any option-count filter, the ids and
        the sha256 of the id list.

        `item_ids_sha256` is the sha256 of the ids joined by newlines, in the sample's (dataset) order.
        """
        return {
            "dataset": self.dataset,
            "dataset_sha256": self.dataset_sha256,
            "preset": self.preset,
            "seed": self.seed,
            "key": "sha256(<dataset_sha256>:<seed>:<item id>), smallest keys per stratum",
            "n": len(self.items),
            "strata": [[label, count] for label, count in self.strata],
            "excluded": len(self.excluded),
            "excluded_ids_sha256": _ids_sha256(self.excluded) if self.excluded else None,
            "options": self.options,
            "item_ids": list(self.ids),
            "item_ids_sha256": _ids_sha256(self.ids),
        }


def parse_sample(spec: str, option: str = "--sample") -> SamplePreset:
    """Read a preset string: `paper`, `paper:N`, `stratified:N`, `first:N` or `all`.

    Args:
        option: what the error names as the place of the value (`--exclude-sample` for that option).

    Raises:
        DatasetError: anything else (lists the valid forms, suggests the closest kind).
    """
    kind, colon, count = spec.strip().partition(":")
    kinds = get_args(PresetKind)
    if kind not in kinds:
        raise DatasetError(option, None, f"unknown preset {spec!r}; {_FORMS}.{did_you_mean(kind, kinds)}")
    if not colon:
        if kind in ("stratified", "first"):
            raise DatasetError(option, None, f"{spec!r} needs a size such as {kind}:100; {_FORMS}")
        return SamplePreset(kind)
    if kind == "all":
        raise DatasetError(option, None, f"{spec!r}: 'all' takes no size; {_FORMS}")
    if not re.fullmatch(r"[0-9]+", count) or int(count) == 0:
        raise DatasetError(option, None, f"{spec!r}: N must be a positive whole number; {_FORMS}")
    return SamplePreset(kind, int(count))


def parse_exclusion(spec: str, seed: int) -> tuple[SamplePreset, int]:
    """Read `--exclude-sample PRESET[@SEED]`: the preset, and the seed it is drawn with (the run's own
    unless given). A development split drawn under another seed than the reported sample must name
    the reported seed (`paper@0`), or it excludes a different sample and may overlap the reported one."""
    preset, at, seed_text = spec.strip().partition("@")
    if at and not re.fullmatch(r"[0-9]+", seed_text):
        raise DatasetError("--exclude-sample", None, f"{spec!r}: the seed after @ must be a whole number, e.g. paper@0")
    return parse_sample(preset, "--exclude-sample"), int(seed_text) if at else seed


def sample_key(dataset_sha256: str, seed: int, item_id: str) -> str:
    """An item's sampling key: the smaller, the earlier it is picked within its stratum."""
    return hashlib.sha256(f"{dataset_sha256}:{seed}:{item_id}".encode()).hexdigest()


def sample(
    dataset: Dataset,
    preset: SamplePreset | str,
    seed: int = 0,
    *,
    exclude: Iterable[str] = (),
    option: str = "--sample",
) -> Sample:
    """Pick items of `dataset` by `preset` (see the module docstring), hash-stable under `seed`.

    Args:
        dataset: what to sample from.
        preset: a `SamplePreset` or its string form.
        seed: another seed gives another, equally stable sample.
        exclude: item ids removed before sampling, e.g. a reported sample's ids when you draw a
            development split that must not overlap it.
        option: the option errors name as the place of the preset (e.g. `--exclude-sample`).

    Raises:
        DatasetError: a bad preset, `paper` on a dataset it is not defined for, more items asked
            for than there are, or excluded ids that are not in the dataset.
    """
    if isinstance(exclude, str):
        raise TypeError("exclude takes an iterable of item ids, not a single string")
    preset = parse_sample(preset, option) if isinstance(preset, str) else preset
    excluded = frozenset(exclude)
    unknown = sorted(excluded - {item.id for item in dataset.items})
    if unknown:
        raise DatasetError("--exclude", None, f"{len(unknown)} id(s) are not in {dataset.name}, e.g. {unknown[0]!r}")
    options = _paper_options(dataset) if preset.kind == "paper" else None
    eligible = [item for item in dataset.items if options is None or len(item.options or ()) == options]
    pool = [item for item in eligible if item.id not in excluded]
    after = f" with {options} options" if options else ""
    after += f" after excluding {len(excluded)} ids" if excluded else ""
    too_many = f"'{preset}' asks for {preset.n} items but {dataset.name} has only {len(pool)}{after}"
    strata: tuple[tuple[str | None, int], ...] = ()
    if preset.kind == "all":
        chosen = pool
    elif preset.kind == "first":
        n = preset.n or 0
        if n > len(pool):
            raise DatasetError(option, None, too_many)
        chosen = pool[:n]
    else:
        if preset.kind == "stratified" and (preset.n or 0) > len(pool):
            raise DatasetError(option, None, too_many)
        chosen, strata = _stratified(dataset, eligible, pool, preset, seed, after, option)
    return Sample(
        dataset=dataset.name,
        dataset_sha256=dataset.sha256,
        preset=str(preset),
        seed=seed,
        items=tuple(chosen),
        strata=strata,
        excluded=tuple(sorted(excluded)),
        options=options,
    )


def _stratified(
    dataset: Dataset,
    eligible: list[Item],
    pool: list[Item],
    preset: SamplePreset,
    seed: int,
    after: str,
    option: str = "--sample",
) -> tuple[list[Item], tuple[tuple[str | None, int], ...]]:
    """`paper` and `stratified`: the smallest-key items of each stratum, by the stratum's share.

    `eligible` is the dataset after any option-count filter, before `exclude`: `paper`'s strata are
    chosen on it, so a development split drawn with `--exclude-sample` never moves them."""
    if preset.kind == "paper":
        labels, n = _paper_strata(dataset, eligible, option), preset.n or PAPER_SIZE
    else:
        labels = (*dataset.categories, *((None,) if any(i.category is None for i in pool) else ()))
        n = preset.n or 0
    groups: dict[str | None, list[Item]] = {label: [] for label in labels}
    for item in pool:
        if item.category in groups:
            groups[item.category].append(item)
    sizes = [len(groups[label]) for label in labels]
    # paper's shares ignore the sizes: its design is fixed, so a short stratum is an error below
    shares = _spread(n, [n] * len(labels) if preset.kind == "paper" else sizes)
    picked: set[str] = set()
    for label, share, size in zip(labels, shares, sizes, strict=True):
        if share > size:
            message = f"'{preset}' needs {share} items of {label!r} but {dataset.name} has only {size}{after}"
            raise DatasetError(option, None, message)
        ranked = sorted(groups[label], key=lambda item: (sample_key(dataset.sha256, seed, item.id), item.id))
        picked.update(item.id for item in ranked[:share])
    return [item for item in pool if item.id in picked], tuple(zip(labels, shares, strict=True))


def _spread(n: int, capacities: list[int]) -> list[int]:
    """Split n over strata as evenly as capacities allow: every stratum gets the same share or one
    more, the extra ones going to the first strata in order; a stratum that is full gives what it
    has and the rest is spread over the others. Growing n never shrinks a share (samples nest)."""
    lo, hi = 0, max(capacities, default=0)
    while lo < hi:  # the highest level L with sum(min(c, L)) <= n
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if sum(min(c, mid) for c in capacities) <= n else (lo, mid - 1)
    shares = [min(c, lo) for c in capacities]
    rest = n - sum(shares)
    for index, capacity in enumerate(capacities):
        if rest and capacity > lo:
            shares[index] += 1
            rest -= 1
    return shares


def _paper_options(dataset: Dataset) -> int | None:
    """The option count `paper` keeps: MMLU-Pro's 10-option items only; every item elsewhere."""
    return PAPER_MMLU_PRO_OPTIONS if dataset.name in ("mmlu-pro", "mmlu-pro-validation") else None


def _paper_strata(dataset: Dataset, eligible: list[Item], option: str = "--sample") -> tuple[str | None, ...]:
    if dataset.name == "mmlu":
        missing = [s for s in PAPER_MMLU_SUBJECTS if s not in dataset.categories]
        if missing:
            raise DatasetError(option, None, f"'paper' needs the MMLU subjects {missing}, missing from {dataset.name}")
        return PAPER_MMLU_SUBJECTS
    if dataset.name in ("mmlu-pro", "mmlu-pro-validation"):
        counts = Counter(item.category for item in eligible if item.category is not None)
        largest = sorted(counts, key=lambda category: (-counts[category], category))[:_PAPER_STRATA]
        if len(largest) < _PAPER_STRATA:
            raise DatasetError(
                option,
                None,
                f"'paper' needs {_PAPER_STRATA} categories but {dataset.name} has {len(largest)}"
                f" with {PAPER_MMLU_PRO_OPTIONS} options",
            )
        return tuple(sorted(largest))
    if dataset.name == "gsm8k":
        return ("gsm8k",)  # every GSM8K item's category: one stratum
    raise DatasetError(
        option, None, f"'paper' is defined for mmlu, mmlu-pro and gsm8k, not {dataset.name!r}; use stratified:N"
    )


def _ids_sha256(ids: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()
