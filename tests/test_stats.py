"""orch.eval.stats against hand-computed values and independent implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError
from scipy.stats import binomtest, norm

from orch.eval.stats import (
    UNCATEGORIZED,
    MergeAudit,
    Proportion,
    accuracy,
    budget_flag,
    compare_all,
    cost_summary,
    holm,
    invalid_rate,
    latency_summary,
    mcnemar_exact,
    merge_audit,
    paired_bootstrap_diff_ci,
    panel_oracle,
    per_category_accuracy,
    wilson_ci,
)


def paired(both: int, b: int, c: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    """Outcome arrays with the given 2x2 table: b = A right/B wrong, c = A wrong/B right."""
    a = [True] * both + [True] * b + [False] * c + [False] * neither
    bb = [True] * both + [False] * b + [True] * c + [False] * neither
    return np.array(a), np.array(bb)


# --- Wilson ------------------------------------------------------------------------------------


def wilson_by_formula(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    z = norm.ppf(1 - alpha / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [
        (0, 10, (0.0, 0.2775327998628893)),
        (5, 10, (0.2365930905125639, 0.7634069094874361)),
        (10, 10, (0.7224672001371107, 1.0)),
    ],
)
def test_wilson_known_values(k, n, expected):
    assert wilson_ci(k, n) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("k", "n", "alpha"), [(1, 7, 0.05), (37, 120, 0.05), (3, 9, 0.1), (60, 61, 0.01)])
def test_wilson_matches_closed_form(k, n, alpha):
    assert wilson_ci(k, n, alpha) == pytest.approx(wilson_by_formula(k, n, alpha), abs=1e-9)


@pytest.mark.parametrize("n", [7, 9, 12, 60, 101])
def test_wilson_holds_the_point_at_all_right_and_all_wrong(n):
    """statsmodels rounds n/n's upper bound (and 0/n's lower) one ulp past the point for these n: an
    evaluation with a system at 100% then crashed drawing its negative error bar."""
    assert wilson_ci(n, n)[1] == 1.0 and wilson_ci(0, n)[0] == 0.0


def test_wilson_empty_is_nan_and_bad_input_rejected():
    low, high = wilson_ci(0, 0)
    assert math.isnan(low) and math.isnan(high)
    with pytest.raises(ValueError):
        wilson_ci(11, 10)
    with pytest.raises(ValueError):
        wilson_ci(-1, 10)
    with pytest.raises(ValueError):
        wilson_ci(1, 10, alpha=0)


def test_accuracy_counts_and_interval():
    acc = accuracy([True, True, False, True])
    assert (acc.k, acc.n, acc.value) == (3, 4, 0.75)
    assert (acc.ci_low, acc.ci_high) == pytest.approx(wilson_by_formula(3, 4))
    assert accuracy(np.array([1, 0, 0, 0])).k == 1
    with pytest.raises(ValueError):
        accuracy([0, 2, 1])
    empty = accuracy([])
    assert empty.n == 0 and math.isnan(empty.value)


def test_models_are_frozen():
    acc = accuracy([True])
    with pytest.raises(ValidationError):
        acc.k = 5  # type: ignore[misc]


# --- McNemar -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("b", "c", "expected_p"),
    [
        (1, 6, 0.125),  # 2 * P(X <= 1 | 7, .5) = 2 * 8/128
        (6, 1, 0.125),
        (0, 5, 0.0625),  # 2 * (1/2)^5
        (3, 3, 1.0),
        (0, 0, 1.0),
        (2, 10, 2 * (1 + 12 + 66) / 4096),
    ],
)
def test_mcnemar_exact_hand_computed(b, c, expected_p):
    a, bb = paired(both=20, b=b, c=c, neither=7)
    res = mcnemar_exact(a, bb)
    assert (res.b, res.c, res.n_discordant, res.n) == (b, c, b + c, 27 + b + c)
    assert res.p_value == pytest.approx(expected_p, rel=1e-12)
    assert res.diff == pytest.approx((b - c) / (27 + b + c))


@pytest.mark.parametrize(("b", "c"), [(1, 6), (4, 9), (10, 25), (17, 3), (40, 41)])
def test_mcnemar_matches_scipy_binomtest(b, c):
    a, bb = paired(both=5, b=b, c=c, neither=5)
    assert mcnemar_exact(a, bb).p_value == pytest.approx(binomtest(b, b + c, 0.5).pvalue, rel=1e-10)


def test_mcnemar_direction_and_symmetry():
    a, bb = paired(both=3, b=5, c=1, neither=1)
    ab, ba = mcnemar_exact(a, bb), mcnemar_exact(bb, a)
    assert ab.diff == pytest.approx(a.mean() - bb.mean()) and ab.diff > 0
    assert (ba.b, ba.c, ba.diff) == (ab.c, ab.b, -ab.diff)
    assert ba.p_value == ab.p_value


def test_mcnemar_rejects_unequal_lengths():
    with pytest.raises(ValueError):
        mcnemar_exact([True, False], [True])


# --- Holm and compare_all ----------------------------------------------------------------------


def test_holm_textbook():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_handles_empty():
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert holm([0.2]) == pytest.approx([0.2])
    assert holm([]) == []


def test_compare_all_rows_and_family_wide_holm():
    rng = np.random.default_rng(1)
    base = rng.random(80) < 0.6
    systems = {
        "orch": base | (rng.random(80) < 0.3),
        "vote": base,
        "m1": base & (rng.random(80) < 0.8),
        "m2": rng.random(80) < 0.5,
    }
    rows = compare_all(systems, baselines=["vote", "m1", "m2", "orch"], targets=["orch", "vote"], n_resamples=500)
    pairs = [(r.target, r.baseline) for r in rows]
    assert pairs == [("orch", "vote"), ("orch", "m1"), ("orch", "m2"), ("vote", "m1"), ("vote", "m2"), ("vote", "orch")]
    assert [r.p_holm for r in rows] == pytest.approx(holm([r.p_value for r in rows]))
    for r in rows:
        ref = mcnemar_exact(systems[r.target], systems[r.baseline])
        assert (r.b, r.c, r.p_value, r.diff, r.n) == (ref.b, ref.c, ref.p_value, ref.diff, 80)
        assert r.target_accuracy - r.baseline_accuracy == pytest.approx(r.diff)
        assert (r.ci_low, r.ci_high) == paired_bootstrap_diff_ci(
            systems[r.target], systems[r.baseline], n_resamples=500
        )
        assert r.p_holm >= r.p_value
    assert any(r.p_holm > r.p_value for r in rows)


def test_compare_all_rejects_unknown_system():
    with pytest.raises(ValueError, match="nope"):
        compare_all({"a": [True]}, baselines=["nope"], targets=["a"])


# --- paired bootstrap --------------------------------------------------------------------------


def test_bootstrap_matches_independent_paired_resampling():
    # 30 items A-only right, 10 B-only right: diff 0.1; pairing makes the interval narrow.
    a, b = paired(both=120, b=30, c=10, neither=40)
    low, high = paired_bootstrap_diff_ci(a, b, n_resamples=10_000, seed=3)
    assert low < 0.1 < high

    d = a.astype(float) - b.astype(float)
    idx = np.random.default_rng(99).integers(0, d.size, size=(20_000, d.size))
    ref_low, ref_high = np.percentile(d[idx].mean(axis=1), [2.5, 97.5])
    assert low == pytest.approx(ref_low, abs=0.011)
    assert high == pytest.approx(ref_high, abs=0.011)

    # normal-theory width of a *paired* interval; an unpaired bootstrap would be ~40% wider here
    se_paired = d.std() / math.sqrt(d.size)
    assert high - low == pytest.approx(2 * 1.96 * se_paired, abs=0.012)


def test_bootstrap_covers_true_difference_of_generating_process():
    rng = np.random.default_rng(2024)
    n = 400
    a = rng.random(n) < 0.75
    u = rng.random(n)
    b = np.where(a, u >= 0.4, u < 0.2)  # P(b) = 0.75 * 0.6 + 0.25 * 0.2 = 0.5, so true diff = 0.25
    low, high = paired_bootstrap_diff_ci(a, b, seed=0)
    assert low < 0.25 < high
    assert low > 0.1  # clearly positive, not a vacuous interval


def test_bootstrap_deterministic_given_seed():
    a, b = paired(both=50, b=12, c=7, neither=31)
    first = paired_bootstrap_diff_ci(a, b, n_resamples=300, seed=7)
    assert paired_bootstrap_diff_ci(a, b, n_resamples=300, seed=7) == first
    results = {paired_bootstrap_diff_ci(a, b, n_resamples=300, seed=s) for s in range(6)}
    assert len(results) > 1  # the seed is actually used


def test_bootstrap_alpha_controls_width():
    a, b = paired(both=50, b=12, c=7, neither=31)
    wide = paired_bootstrap_diff_ci(a, b, alpha=0.01, n_resamples=2000)
    narrow = paired_bootstrap_diff_ci(a, b, alpha=0.5, n_resamples=2000)
    assert wide[0] < narrow[0] < narrow[1] < wide[1]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([True, False, True, False], [True, False, True, False], 0.0),  # all pairs identical
        ([True] * 5, [False] * 5, 1.0),
        ([False] * 5, [True] * 5, -1.0),
        ([True], [False], 1.0),
    ],
)
def test_bootstrap_degenerate_returns_point(a, b, expected):
    assert paired_bootstrap_diff_ci(a, b) == (expected, expected)


def test_bootstrap_near_degenerate_is_finite():
    # one discordant pair in 50: BCa's jackknife would break here, the percentile interval must not
    a, b = paired(both=30, b=1, c=0, neither=19)
    low, high = paired_bootstrap_diff_ci(a, b)
    assert math.isfinite(low) and math.isfinite(high)
    assert low == 0.0 and 0.02 <= high <= 0.08


def test_bootstrap_empty_and_mismatched():
    low, high = paired_bootstrap_diff_ci([], [])
    assert math.isnan(low) and math.isnan(high)
    with pytest.raises(ValueError):
        paired_bootstrap_diff_ci([True, False], [True])


# --- panel oracle and merge audit --------------------------------------------------------------


def test_panel_oracle_any_analyst_right():
    answers = [["A", "B"], ["B", "B"], [None, "C"], [], ["D", None, "A"]]
    gold = ["B", "A", "C", "A", "A"]
    oracle = panel_oracle(answers, gold)
    assert (oracle.k, oracle.n, oracle.value) == (3, 5, 0.6)
    assert (oracle.ci_low, oracle.ci_high) == wilson_ci(3, 5)
    with pytest.raises(ValueError):
        panel_oracle(answers, gold[:-1])


# (final, analyst answers, gold, expected non-zero counts)
AUDIT_CASES = [
    ("A", ["A", "A", "B"], "A", {"final_correct": 1, "majority_correct": 1}),
    ("A", ["B", "B", "A"], "A", {"final_correct": 1, "rescues": 1}),  # beat a wrong majority
    ("A", ["A", "B"], "A", {"final_correct": 1, "rescues": 1}),  # tie: no majority to credit
    ("B", ["A", "A", "B"], "A", {"majority_correct": 1, "spoils": 1}),
    ("A", ["B", "B", None], "A", {"final_correct": 1, "rescues": 1, "unanimous_overrides": 1, "novel_answers": 1}),
    (None, ["C", "C", "C"], "A", {"unanimous_overrides": 1}),
    ("C", [None, "B"], "A", {"novel_answers": 1}),  # one valid analyst: not "unanimous"
    (None, [], "A", {}),
    ("D", ["A", "A"], "A", {"majority_correct": 1, "spoils": 1, "unanimous_overrides": 1, "novel_answers": 1}),
    ("A", ["A", "A", "A"], "A", {"final_correct": 1, "majority_correct": 1}),
    ("B", ["B", None, "A"], "A", {}),  # tie between A and B: no majority, no spoil
]
COUNTS = [f for f in MergeAudit.model_fields if f != "n"]


@pytest.mark.parametrize(("final", "answers", "gold", "expected"), AUDIT_CASES)
def test_merge_audit_single_item(final, answers, gold, expected):
    audit = merge_audit([final], [answers], [gold])
    assert audit.n == 1
    assert {f: getattr(audit, f) for f in COUNTS} == {f: expected.get(f, 0) for f in COUNTS}


def test_merge_audit_table_totals_and_identity():
    final, answers, gold, _expected = zip(*AUDIT_CASES, strict=True)
    audit = merge_audit(final, answers, gold)
    assert audit == MergeAudit(
        n=11,
        final_correct=5,
        majority_correct=4,
        rescues=3,
        spoils=2,
        unanimous_overrides=3,
        novel_answers=3,
    )
    assert audit.rescues - audit.spoils == audit.final_correct - audit.majority_correct
    assert audit.final_correct == accuracy([f is not None and f == g for f, g in zip(final, gold, strict=True)]).k


def test_merge_audit_rejects_unequal_lengths():
    with pytest.raises(ValueError):
        merge_audit(["A"], [["A"], ["B"]], ["A", "B"])


# --- summaries ---------------------------------------------------------------------------------


def test_latency_summary_known_percentiles():
    s = latency_summary([50, 10, 40, 20, 30])
    assert s == {"n": 5, "mean": 30.0, "p50": 30.0, "p95": pytest.approx(48.0)}
    s = latency_summary(np.arange(1, 101, dtype=float))
    assert (s["p50"], s["p95"], s["mean"]) == pytest.approx((50.5, 95.05, 50.5))


def test_latency_summary_drops_nan_and_handles_empty():
    assert latency_summary([10.0, float("nan"), 30.0]) == {"n": 2, "mean": 20.0, "p50": 20.0, "p95": 29.0}
    empty = latency_summary([])
    assert empty["n"] == 0 and math.isnan(empty["p95"])


def test_cost_summary_per_item_and_per_correct():
    s = cost_summary([100, 200, 300, 400], [10, 20, 30, 40], [0.1, 0.2, 0.3, 0.4], [True, False, True, False])
    expected = {
        "n": 4,
        "n_correct": 2,
        "tokens_in": 1000.0,
        "tokens_out": 100.0,
        "tokens": 1100.0,
        "cost": 1.0,
        "tokens_in_per_item": 250.0,
        "tokens_out_per_item": 25.0,
        "tokens_per_item": 275.0,
        "cost_per_item": 0.25,
        "tokens_in_per_correct": 500.0,
        "tokens_out_per_correct": 50.0,
        "tokens_per_correct": 550.0,
        "cost_per_correct": 0.5,
    }
    assert s == pytest.approx(expected)


def test_cost_summary_zero_correct_is_none():
    s = cost_summary([10, 10], [5, 5], [0.0, 0.0], [False, False])
    assert s["tokens_per_item"] == 15.0 and s["cost_per_item"] == 0.0
    assert all(s[k] is None for k in s if k.endswith("_per_correct"))
    empty = cost_summary([], [], [], [])
    assert empty["n"] == 0 and empty["tokens_per_item"] is None and empty["cost_per_correct"] is None
    with pytest.raises(ValueError):
        cost_summary([1, 2], [1], [0.1, 0.2], [True, False])


def test_per_category_accuracy():
    cats = ["math", "math", "bio", None, "bio", "math"]
    res = per_category_accuracy(cats, [True, False, True, True, False, True])
    assert list(res) == [UNCATEGORIZED, "bio", "math"]
    assert [(p.k, p.n) for p in res.values()] == [(1, 1), (1, 2), (2, 3)]
    assert res["math"] == Proportion(k=2, n=3, value=2 / 3, ci_low=wilson_ci(2, 3)[0], ci_high=wilson_ci(2, 3)[1])
    with pytest.raises(ValueError):
        per_category_accuracy(cats, [True])


@pytest.mark.parametrize(
    ("target", "baseline", "tolerance", "flag"),
    [
        (100, 100, 0.25, False),
        (125, 100, 0.25, False),  # exactly at the tolerance is not "more than"
        (126, 100, 0.25, True),
        (75, 100, 0.25, False),
        (74, 100, 0.25, True),
        (900, 100, 0.25, True),  # ORCH with 9 analyses vs one model
        (140, 100, 0.5, False),
        (0, 0, 0.25, False),
        (5, 0, 0.25, True),
    ],
)
def test_budget_flag(target, baseline, tolerance, flag):
    assert budget_flag(target, baseline, tolerance) is flag


def test_budget_flag_rejects_negative():
    with pytest.raises(ValueError):
        budget_flag(-1, 100)
    with pytest.raises(ValueError):
        budget_flag(100, 100, tolerance=-0.1)


def test_invalid_rate():
    r = invalid_rate(["A", None, "B", None, None])
    assert (r.k, r.n, r.value) == (3, 5, 0.6)
    assert (r.ci_low, r.ci_high) == wilson_ci(3, 5)
    assert invalid_rate(["A", "", "B"]).k == 0  # only None is invalid
    assert invalid_rate([]).n == 0
