"""Should you ensemble at all: Tango's non-inferiority test, κ, the weighted oracle and the verdict,
against hand-computed values, a published interval and independent implementations."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy import optimize
from scipy.stats import norm
from statsmodels.stats.inter_rater import cohens_kappa

from orch.eval.agreement import cohen_kappa, error_correlation, kappa_bootstrap_ci, pairwise_agreement
from orch.eval.noninferiority import _restricted_q21, noninferiority_all, tango_ci, tango_test, tango_z
from orch.eval.report import SystemResults, build_report
from orch.eval.stats import holm, merge_audit, panel_oracle
from orch.eval.verdict import best_single, ensemble_verdict
from orch.eval.weighted_oracle import MAX_AGENTS, weighted_oracle
from orch.items import Item
from orch.records import AgentOutput, Decision, ItemResult, Usage
from tests.test_stats import paired

# --- Tango's score test -------------------------------------------------------------------------


def test_tango_interval_matches_the_published_one() -> None:
    """Cavo et al. 2012 in Fagerland, Lydersen & Laake (2017), ch. 8: n12 = 6, n21 = 16, N = 161."""
    low, high = tango_ci(6, 16, 161)
    assert (round(low, 4), round(high, 4)) == (-0.1240, -0.0054)


@pytest.mark.parametrize(("b", "c", "n", "delta0"), [(6, 16, 161, -0.03), (10, 3, 50, -0.1), (4, 9, 30, 0.05)])
def test_restricted_estimate_maximises_the_constrained_likelihood(b: int, c: int, n: int, delta0: float) -> None:
    def negative_log_likelihood(q: float) -> float:
        return -(b * math.log(q + delta0) + c * math.log(q) + (n - b - c) * math.log(1 - 2 * q - delta0))

    bounds = (max(0.0, -delta0) + 1e-12, (1 - delta0) / 2 - 1e-12)
    numeric = optimize.minimize_scalar(
        negative_log_likelihood, bounds=bounds, method="bounded", options={"xatol": 1e-12}
    )
    assert _restricted_q21(b, c, n, delta0) == pytest.approx(numeric.x, abs=1e-7)


@pytest.mark.parametrize(
    ("n", "z", "p", "non_inferior"),
    [
        # identical systems: q̃21 = δ, so z = nδ / sqrt(nδ(1 − δ)) = sqrt(nδ / (1 − δ))
        (100, math.sqrt(3 / 0.97), 0.039320, False),  # 100 items cannot rule out a 3-point loss
        (300, math.sqrt(9 / 0.97), 0.0011598, True),
    ],
)
def test_identical_systems_are_non_inferior_only_with_enough_items(n: int, z: float, p: float, non_inferior) -> None:
    same = [True] * (n // 2) + [False] * (n - n // 2)
    test = tango_test(same, same, margin=0.03)
    assert (test.b, test.c, test.diff) == (0, 0, 0.0)
    assert test.z == pytest.approx(z, rel=1e-12) and test.p_value == pytest.approx(p, abs=1e-6)
    [row] = noninferiority_all({"t": same, "b": same}, "b", ["t"], margin=0.03)
    assert row.non_inferior is non_inferior and row.p_holm == test.p_value


def test_a_target_ten_points_worse_is_clearly_not_non_inferior() -> None:
    # b = 0, c = 10, n = 100, Δ0 = −0.03: A = 200, B = −16.3, C = 0.309, √(B² − 4AC) = √18.49 = 4.3,
    # q̃21 = (4.3 + 16.3) / 400 = 0.0515, variance 100 (0.103 − 0.0309) = 7.21, z = −7 / √7.21
    target, baseline = paired(both=40, b=0, c=10, neither=50)
    test = tango_test(target, baseline, margin=0.03)
    assert _restricted_q21(0, 10, 100, -0.03) == pytest.approx(0.0515, abs=1e-12)
    assert test.z == pytest.approx(-7 / math.sqrt(7.21), rel=1e-12)
    assert test.p_value == pytest.approx(norm.cdf(7 / math.sqrt(7.21)), rel=1e-12)
    assert test.p_value == pytest.approx(0.99543, abs=1e-5)
    assert test.diff == -0.1 and test.ci_high < -0.03


def test_a_better_target_is_clearly_non_inferior() -> None:
    target, baseline = paired(both=50, b=15, c=5, neither=30)
    test = tango_test(target, baseline, margin=0.03)
    assert test.diff == pytest.approx(0.10) and test.ci_low > 0 and test.p_value < 0.01


@pytest.mark.parametrize(("b", "c"), [(0, 0), (3, 5), (5, 3), (0, 9), (12, 2), (7, 7), (2, 6)])
def test_the_test_and_the_interval_agree(b: int, c: int) -> None:
    """One-sided p < 0.025 exactly when the two-sided 95% interval lies above −margin."""
    for n_extra in (20, 80, 400):
        target, baseline = paired(both=n_extra // 2, b=b, c=c, neither=n_extra - n_extra // 2)
        test = tango_test(target, baseline, margin=0.05)
        assert (test.p_value < 0.025) == (test.ci_low > -0.05)
        assert tango_z(b, c, test.n, test.ci_low) == pytest.approx(norm.ppf(0.975), abs=1e-6)


def test_targets_are_holm_adjusted_as_one_family() -> None:
    best, good = paired(both=150, b=0, c=0, neither=150)
    bad = good.copy()
    bad[:10] = False  # 10 items the best agent gets right: 3.3 points worse
    rows = noninferiority_all({"best": best, "t1": good, "t2": bad}, "best", ["t1", "t2"], margin=0.03)
    raw = [r.test.p_value for r in rows]
    assert [r.p_holm for r in rows] == holm(raw) and [r.baseline for r in rows] == ["best", "best"]
    assert [r.non_inferior for r in rows] == [True, False]


def test_no_items_give_no_numbers() -> None:
    test = tango_test([], [], margin=0.03)
    assert test.n == 0 and math.isnan(test.p_value) and math.isnan(test.ci_low)


# --- κ and error correlation -------------------------------------------------------------------


def test_kappa_of_identical_independent_and_complementary_answers() -> None:
    a = [True, True, False, False] * 5
    assert cohen_kappa(a, a) == 1.0 and error_correlation(a, a) == pytest.approx(1.0)
    assert kappa_bootstrap_ci(a, a) == (1.0, 1.0)
    independent = [True, False, True, False] * 5  # every cell of the 2×2 table holds 5
    assert cohen_kappa(a, independent) == 0.0 and error_correlation(a, independent) == pytest.approx(0.0, abs=1e-15)
    assert cohen_kappa(a, [not x for x in a]) == -1.0
    assert cohen_kappa(a, [True] * 20) == 0.0 and math.isnan(error_correlation(a, [True] * 20))
    assert math.isnan(cohen_kappa([True] * 4, [True] * 4))  # chance agreement is certain


def test_kappa_matches_statsmodels_and_its_interval_covers_it() -> None:
    a, b = paired(both=20, b=5, c=10, neither=15)  # p_o = 0.7, p_e = 0.5: κ = 0.4 by hand
    assert cohen_kappa(a, b) == pytest.approx(0.4, abs=1e-12)
    assert cohen_kappa(a, b) == pytest.approx(cohens_kappa(np.array([[20, 5], [10, 15]])).kappa, abs=1e-12)
    low, high = kappa_bootstrap_ci(a, b)
    assert low < 0.4 < high and kappa_bootstrap_ci(a, b) == (low, high)


def test_pairwise_agreement_lists_every_pair_once() -> None:
    rows = pairwise_agreement({"x": [1, 1, 0, 0], "y": [1, 0, 1, 0], "z": [1, 1, 0, 0]}, n_resamples=200)
    assert [(r.agent_a, r.agent_b) for r in rows] == [("x", "y"), ("x", "z"), ("y", "z")]
    assert [r.both_wrong for r in rows] == [1, 2, 1] and rows[1].kappa == 1.0


# --- weighted oracle ---------------------------------------------------------------------------

CONSTRUCTED = [  # gold x on every item
    [("A", "x"), ("B", "y"), ("C", "z")],  # A alone right; the panel has no majority
    [("A", "y"), ("B", "x"), ("C", "x")],  # B and C outvote A
    [("A", "x"), ("B", "x"), ("C", "y")],
]


def test_weighted_oracle_beats_the_majority_and_every_agent_on_a_constructed_case() -> None:
    gold = ["x"] * 3
    oracle = weighted_oracle(CONSTRUCTED, gold)
    assert oracle is not None and (oracle.accuracy.k, oracle.accuracy.n) == (3, 3)
    # item 1 needs wA > wB, wC; item 2 needs wB + wC > wA: (3, 2, 2) is the lightest such weighting
    assert oracle.weights == {"A": 3, "B": 2, "C": 2}
    panels = [[a for _, a in item] for item in CONSTRUCTED]
    assert merge_audit(["x"] * 3, panels, gold).majority_correct == 2  # A and B alone: 2/3 too


def test_weighted_oracle_lies_between_majority_best_agent_and_panel_oracle() -> None:
    rng = random.Random(7)
    for _ in range(20):
        votes = [[(agent, rng.choice("ABCD")) for agent in ("p", "q", "r")] for _ in range(30)]
        gold = [rng.choice("ABCD") for _ in range(30)]
        oracle = weighted_oracle(votes, gold)
        assert oracle is not None
        panels = [[a for _, a in item] for item in votes]
        majority = merge_audit(["A"] * 30, panels, gold).majority_correct
        alone = max(sum(item[j][1] == g for item, g in zip(votes, gold, strict=True)) for j in range(3))
        assert max(majority, alone) <= oracle.accuracy.k <= panel_oracle(panels, gold).k


def test_weighted_oracle_handles_ties_absent_agents_and_too_many_agents() -> None:
    # a 1–1 tie decides nothing; an agent missing from an item casts nothing
    oracle = weighted_oracle([[("A", "x"), ("B", "y")], [("B", "x")]], ["x", "x"])
    assert oracle is not None and oracle.accuracy.k == 2 and oracle.weights == {"A": 2, "B": 1}
    unreadable = weighted_oracle([[("A", None)]], ["x"])
    assert unreadable is not None and unreadable.accuracy.k == 0
    many = [[(f"a{j}", "x") for j in range(MAX_AGENTS + 1)]]
    assert weighted_oracle(many, ["x"]) is None and weighted_oracle([], []) is None


# --- verdict and the report --------------------------------------------------------------------


def test_best_single_is_the_most_accurate_single_system_first_listed_on_ties() -> None:
    kinds = {"single:a": "single", "single:b": "single", "cot:b": "cot", "orch": "graph"}
    assert best_single({"single:a": 0.4, "single:b": 0.5, "cot:b": 0.9, "orch": 0.6}, kinds) == "single:b"
    assert best_single({"single:a": 0.5, "single:b": 0.5, "cot:b": 0.9, "orch": 0.6}, kinds) == "single:a"
    assert best_single({"orch": 0.6}, {"orch": "graph"}) is None


def test_verdict_lines() -> None:
    best, same = paired(both=150, b=0, c=0, neither=150)
    worse = same.copy()
    worse[:10] = False
    systems = {"single:a": best, "orch": same, "orch-ema": worse}
    good, bad = noninferiority_all(systems, "single:a", ["orch", "orch-ema"], margin=0.03)
    assert good.non_inferior and not bad.non_inferior
    assert ensemble_verdict([good, bad], "single:a", ["orch", "orch-ema"], 0.03, n_items=300) == (
        "ensemble holds up: orch is non-inferior to single:a at 3 points "
        f"(Δ +0.0%, 95% CI {good.test.ci_low:+.1%} to +1.3%, Holm p = {good.p_holm:.3f}); "
        "not non-inferior: orch-ema"
    )
    [alone] = noninferiority_all(systems, "single:a", ["orch-ema"], margin=0.03)
    assert ensemble_verdict([alone], "single:a", ["orch-ema"], 0.01, n_items=300) == (
        "ensemble not worth it: orch-ema is not non-inferior to single:a at 1 point "
        f"(Δ -3.3%, 95% CI {alone.test.ci_low:+.1%} to {alone.test.ci_high:+.1%}, Holm p = {alone.p_holm:.3f})"
    )
    assert ensemble_verdict([], None, ["orch"], 0.03, n_items=3) == (
        "no verdict: no single:* system to compare the ensemble with"
    )
    assert ensemble_verdict([], "single:a", [], 0.03, n_items=3).startswith("no verdict: no ensemble")
    assert ensemble_verdict([], None, [], 0.03, n_items=0) == "no verdict: no item was answered by every system"


def _result(i: int, answer: str, gold: str, votes: list[tuple[str, str]] = ()) -> ItemResult:
    item = Item(id=f"q{i}", question=f"Q{i}?", options=("x", "y", "z", "w"), answer=gold)
    analyses = [AgentOutput(agent=a, node="analysts", kind="analysis", answer=v, path="json") for a, v in votes]
    return ItemResult(
        item=item,
        graph="g",
        answer=answer,
        correct=answer == gold,
        decision=Decision(answer=answer, node="merge", method="merge"),
        analyses=analyses,
        panel=[a for a, _ in votes],
        roles={},
        wall_ms=0.0,
        analysis_ms=0.0,
        decision_ms=0.0,
        usage=Usage(calls=1),
    )


def test_the_report_carries_the_verdict_kappa_and_both_oracles() -> None:
    letters = {"x": "A", "y": "B", "z": "C"}
    panels = [[(agent, letters[v]) for agent, v in item] for item in CONSTRUCTED]
    gold = ["A"] * 3
    singles = {agent: [item[j][1] for item in panels] for j, agent in enumerate(("A", "B", "C"))}
    systems = [
        SystemResults(
            name=f"single:{agent}",
            kind="single",
            baseline=True,
            results=[_result(i, a, g) for i, (a, g) in enumerate(zip(answers, gold, strict=True))],
        )
        for agent, answers in singles.items()
    ]
    merged = ["A", "A", "B"]  # the merge spoils item 3
    systems.append(
        SystemResults(
            name="orch",
            kind="graph",
            baseline=False,
            results=[_result(i, merged[i], gold[i], panels[i]) for i in range(3)],
        )
    )
    report = build_report(systems, benchmark="t", sample="all", seed=0, dataset_sha256="0" * 64)
    assert report.best_single == "single:A" and report.noninferiority_margin == 0.03
    [ni] = report.noninferiority
    assert (ni.target, ni.baseline, ni.test.b, ni.test.c, ni.non_inferior) == ("orch", "single:A", 1, 1, False)
    assert report.verdict.startswith("ensemble not worth it: orch is not non-inferior to single:A at 3 points")
    [audit] = report.audits
    assert (audit.oracle.k, audit.weighted_oracle.k) == (3, 3)
    assert audit.oracle_weights == {"A": 3, "B": 2, "C": 2}
    assert [(r.agent_a, r.agent_b) for r in report.agreement] == [("A", "B"), ("A", "C"), ("B", "C")]
    assert report.agreement[0].kappa == pytest.approx(-0.5)  # A right on 1, 3; B on 2, 3: p_o 1/3, p_e 5/9
    assert set(type(report).model_fields) >= {"noninferiority", "agreement", "verdict", "best_single"}


def _realistic_report(with_singles: bool = True):
    """300 items, the embedded pool's agent names, a vote and three orch graphs."""
    rng = random.Random(1)
    agents = {"qwen-1.5b": 0.45, "qwen-0.5b": 0.3, "smollm2-135m": 0.25}
    gold = [rng.choice("ABCD") for _ in range(300)]
    answers = {a: [g if rng.random() < p else rng.choice("ABCD") for g in gold] for a, p in agents.items()}

    def system(name: str, kind: str, picks: list[str], votes: bool = False) -> SystemResults:
        panels = [[(a, answers[a][i]) for a in agents] if votes else [] for i in range(300)]
        results = [_result(i, picks[i], gold[i], panels[i]) for i in range(300)]
        return SystemResults(name=name, kind=kind, baseline=kind != "graph", results=results)

    systems = [system(f"single:{a}", "single", answers[a]) for a in agents] if with_singles else []
    systems.append(system("vote", "vote", answers["qwen-1.5b"]))
    for target in ("orch", "orch-ema", "orch-paper"):
        picks = [a if rng.random() < 0.9 else rng.choice("ABCD") for a in answers["qwen-1.5b"]]
        systems.append(system(target, "graph", picks, votes=True))
    return build_report(systems, benchmark="mmlu", sample="paper", seed=0, dataset_sha256="0" * 64)


def test_the_terminal_report_fits_100_columns(monkeypatch) -> None:
    from rich.console import Console

    import orch.cli.eval_report as eval_report

    terminal = Console(width=100, record=True, color_system=None)
    monkeypatch.setattr(eval_report, "console", terminal)
    report = _realistic_report()
    eval_report.print_report(report)
    text = terminal.export_text()
    assert max(map(len, text.splitlines())) <= 100 and "…" not in text
    for line in ("single:smollm2-135m ", "qwen-1.5b=", "qwen-0.5b / smollm2-135m", "Holm p", "weighted oracle"):
        assert line in text
    # one line per row: nothing wrapped (3 singles + vote + 3 targets; 3 targets; 3 graphs; 3 pairs)
    assert sum(line.startswith(("single:", "vote ", "orch")) for line in text.splitlines()) == 7 + 3 + 3
    assert " ".join(text.split()).endswith(" ".join(f"verdict: {report.verdict}".split()))


def test_the_report_has_the_same_keys_with_or_without_single_agents() -> None:
    full, bare = _realistic_report(), _realistic_report(with_singles=False)
    assert full.model_dump().keys() == bare.model_dump().keys()
    assert full.best_single == "single:qwen-1.5b" and len(full.agreement) == 3 and len(full.noninferiority) == 3
    assert bare.verdict == "no verdict: no single:* system to compare the ensemble with"
    assert (bare.best_single, bare.noninferiority, bare.agreement) == (None, [], [])
    assert bare.audits[0].weighted_oracle == full.audits[0].weighted_oracle


def test_a_gated_merge_reports_the_items_the_panel_decided_and_the_tokens_saved() -> None:
    from orch.eval.markdown import render_markdown

    results = []
    for i, (answer, gated) in enumerate([("A", True), ("A", True), ("B", True), ("A", False), ("B", False)]):
        r = _result(i, answer, "A", [("p", answer)])
        usage = Usage() if gated else Usage(calls=1, input_tokens=900, output_tokens=10)
        method = "weighted" if gated else "merge"
        decision = Decision(answer=answer, node="merge", method=method, gated=gated, usage=usage)
        results.append(r.model_copy(update={"decision": decision}))
    systems = [SystemResults(name="orch-weighted", kind="graph", baseline=False, results=results)]
    report = build_report(systems, benchmark="t", sample="all", seed=0, dataset_sha256="0" * 64)
    [gate] = report.gates
    assert (gate.panel_decided, gate.merged, gate.panel_accuracy.k, gate.merge_accuracy.k) == (3, 2, 2, 1)
    assert (gate.tokens_per_merge, gate.tokens_saved, gate.skipped_share) == (910.0, 2730.0, 0.6)
    assert "| orch-weighted | 3/5 (60.0%) | 66.7% (2/3) | 50.0% (1/2) | 910 | 2,730 |" in render_markdown(report)
    ungated = [r.model_copy(update={"decision": r.decision.model_copy(update={"gated": False})}) for r in results]
    plain = SystemResults(name="orch", kind="graph", baseline=False, results=ungated)
    assert build_report([plain], benchmark="t", sample="all", seed=0, dataset_sha256="0" * 64).gates == []
