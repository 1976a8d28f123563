# ruff: noqa: E501  (the corpus below is a table: one case per line)
"""A corpus of malformed inputs, each run through the real CLI in a subprocess.

The rule: bad input gets one clear line naming the file, line or field, exit code 2, no traceback,
and nothing partial (no MLflow run, no evaluation record). Every command here fails before any
model starts; the pool they use points at a closed port, so a check that wrongly passes fails fast.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

POOL = (
    "agents:\n"
    "  - {id: one, model: m1, base_url: 'http://127.0.0.1:9/v1', timeout_s: 1, max_retries: 0}\n"
    "  - {id: two, model: m2, base_url: 'http://127.0.0.1:9/v1', timeout_s: 1, max_retries: 0}\n"
)
GOOD_JSONL = (
    '{"question": "First?", "options": ["x", "y"], "answer": "A"}\n'
    '{"question": "Second?", "options": ["x", "y"], "answer": "B"}\n'
)
KEYLESS = "agents: [{id: one, model: m1, base_url: 'http://127.0.0.1:9/v1', api_key_env: ORCH_TEST_NEVER_SET}]\n"
ASK = ("ask", "Which?", "-o", "x", "-o", "y")
EVAL = ("eval", "--benchmark", "data.jsonl", "--sample", "all", "--systems", "single:one", "--config", "pool.yaml")


def spec(nodes: str, edges: str) -> str:
    """A graph spec named `bad` with these nodes (YAML mapping body) and edges (a flow list)."""
    return f"name: bad\nnodes:\n{nodes}\nedges: {edges}\n"


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    expect: str | tuple[str, ...]
    """Text (or texts) the error line must contain."""
    files: dict[str, str | bytes] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    xfail: str | None = None


def graph_case(
    case_id: str, body: str | bytes, expect: str, command: str = "show", files: dict[str, str] | None = None
) -> Case:
    """A bad spec `bad.yaml`, given to `orch graph show`, or to `--graph` of `orch ask`, `orch run` or `orch serve`."""
    args = {
        "show": ("graph", "show", "bad.yaml"),
        "ask": (*ASK, "--graph", "bad.yaml", "--config", "pool.yaml"),
        "run": ("run", "--graph", "bad.yaml", "--limit", "1", "--config", "pool.yaml"),
        "serve": ("serve", "--graph", "bad.yaml", "--port", "0", "--config", "pool.yaml"),
    }[command]
    return Case(case_id, args, expect, {"bad.yaml": body, **(files or {})})


def pool_case(case_id: str, body: str | bytes, expect: str) -> Case:
    return Case(case_id, (*ASK, "--graph", "vote", "--config", "bad-pool.yaml"), expect, files={"bad-pool.yaml": body})


def mlflow_case(case_id: str, body: str | bytes, expect: str) -> Case:
    return Case(
        case_id,
        (*ASK, "--graph", "vote", "--config", "pool.yaml"),
        expect,
        files={"mlflow.yaml": body},
        env={"ORCH_MLFLOW_CONFIG": "mlflow.yaml"},
    )


def data_case(case_id: str, name: str, body: str | bytes, expect: str) -> Case:
    args = ("eval", "--benchmark", name, "--sample", "all", "--systems", "single:one", "--config", "pool.yaml")
    return Case(case_id, args, expect, files={name: body})


def item_case(case_id: str, body: str, expect: str | tuple[str, ...]) -> Case:
    args = ("ask", "--item", "item.json", "--graph", "vote", "--config", "pool.yaml")
    return Case(case_id, args, expect, {"item.json": body})


def args_case(case_id: str, expect: str, xfail: str | None = None, **options: str) -> Case:
    args = dict(zip(EVAL[1::2], EVAL[2::2], strict=True))
    args.update({f"--{k.replace('_', '-')}": v for k, v in options.items()})
    flat = ("eval", *(part for pair in args.items() for part in pair))
    return Case(case_id, flat, expect, files={"data.jsonl": GOOD_JSONL}, xfail=xfail)


M_END = "[[START, m], [m, END]]"
AME = "[[START, a], [a, m], [m, END]]"
AM = "  a: {type: analyze, fan_out: panel}\n  m: {type: merge}"
ONE = "agents: [{id: alpha, model: m, local: x}]\n"
Q3 = GOOD_JSONL + '{"question": "Third?", "options": ["x", "y"], "answer": "Q"}\n'
RAGGED = 'question,options,answer\nFirst?,"[""x"", ""y""]",A\nSecond?,"[""x"", ""y""]",B,extra\n'

# fmt: off
CASES = [
    # -- graph specs: `orch graph show`, `orch ask --graph` and `orch run --graph` ------------
    graph_case("spec-unknown-type", spec("  m: {type: nonsense}", M_END), "nodes.m.type: unknown node type 'nonsense'. Valid"),
    graph_case("spec-typo-did-you-mean", spec("  m: {type: marge}", M_END), "nodes.m.type: unknown node type 'marge'. Did you mean 'merge'?", "ask"),
    graph_case("spec-bad-config-field", spec(AM.replace("panel}", "panel, config: {max_chrs: 5}}"), AME), "nodes.a.config.max_chrs: unknown field; valid fields of 'analyze':"),
    graph_case("spec-wrong-config-type", spec(AM.replace("merge}", "merge, config: {anonymise: maybe}}"), AME), "nodes.m.config.anonymise: Input should be a valid boolean", "run"),
    graph_case("spec-unknown-edge-endpoint", spec(AM.replace("m:", "merge:"), "[[START, a], [a, mrge], [merge, END]]"), "edges[1][1]: unknown node 'mrge'. Did you mean 'merge'? Nodes: ['a', 'merge']"),
    graph_case("spec-no-edge-to-end", spec(AM, "[[START, a], [a, m]]"), "bad.yaml: edges: no edge reaches END"),
    graph_case("spec-unreachable-node", spec(AM + "\n  v: vote", AME[:-1] + ", [v, END], [v, v]]"), "bad.yaml: nodes.v: unreachable from START"),
    graph_case("spec-cycle", spec(AM + "\n  v: vote", "[[START, a], [a, m], [m, v], [v, m], [m, END]]"), "edges: cycle without exit: m -> v -> m", "ask"),
    graph_case("spec-fan-out-two-inputs", spec("  d: decompose\n" + AM, "[[START, d], [START, a], [d, a], [a, m], [m, END]]"), "nodes.a.fan_out: a fanned-out node needs exactly one incoming edge, it has 2"),
    graph_case("spec-nothing-decides", spec("  a: {type: analyze, fan_out: panel}", "[[START, a], [a, END]]"), "bad.yaml: nodes: no node decides the answer", "run"),
    graph_case("spec-yaml-syntax", "name: bad\nnodes: {v: vote\nedges: []\n", "bad.yaml: line 3: invalid YAML"),
    graph_case("spec-control-character", "name: bad\nnodes: {v: vote}\n\x00\n", "bad.yaml: line 3: invalid YAML: unacceptable character #x0000"),
    graph_case("spec-not-a-mapping", "- vote\n", "bad.yaml: must be a mapping at the top level, got list"),
    graph_case("spec-empty-file", "", "bad.yaml: empty graph spec"),
    graph_case("spec-not-utf8", b"\xff\xfe", "bad.yaml: not UTF-8 text", "ask"),
    Case("spec-is-a-folder", ("graph", "show", "specs.yaml"), "specs.yaml: is a folder", {"specs.yaml/x": ""}),
    Case("spec-folder-via-ask", (*ASK, "--graph", "specs", "--config", "pool.yaml"), "specs: is a folder", {"specs/x": ""}),
    graph_case("spec-type-colon-only", spec("  m: {type: ':Foo'}", M_END), "nodes.m.type: node type ':Foo' is not a dotted path"),
    graph_case("spec-type-relative", spec("  m: {type: '.x:Foo'}", M_END), "nodes.m.type: node type '.x:Foo' is not a dotted path"),
    graph_case("spec-type-module-raises", spec("  m: {type: 'boom_mod:Thing'}", M_END), "nodes.m.type: cannot import node type 'boom_mod:Thing': RuntimeError: kaboom", "ask", {"boom_mod.py": "raise RuntimeError('kaboom')\n"}),
    graph_case("spec-type-not-a-node", spec("  m: {type: 'plain_mod:Thing'}", M_END), "nodes.m.type: 'plain_mod:Thing' is not a subclass of orch.nodes.Node", "show", {"plain_mod.py": "class Thing:\n    pass\n"}),
    # -- `orch serve`: refused before anything listens or starts ---------------------------------
    Case("serve-off-loopback-without-key", ("serve", "--host", "0.0.0.0", "--config", "pool.yaml"), "--host 0.0.0.0 is reachable from other machines: set an API key for the server (--api-key KEY or ORCH_SERVE_API_KEY)"),
    Case("serve-unknown-graph", ("serve", "-g", "orhc", "--port", "0", "--config", "pool.yaml"), "orhc: no such graph. Did you mean 'orch'?"),
    Case("serve-graph-twice", ("serve", "-g", "vote", "-g", "vote", "--port", "0", "--config", "pool.yaml"), "--graph: graph 'vote' is given twice"),
    Case("serve-two-routed-graphs", ("serve", "-g", "orch-ema", "-g", "orch-paper-ema", "--port", "0", "--config", "pool.yaml"), "are all routed: serve one routed graph per process"),
    graph_case("serve-bad-spec", spec("  m: {type: marge}", M_END), "nodes.m.type: unknown node type 'marge'. Did you mean 'merge'?", "serve"),
    # -- pool configs: `orch ask --config` -----------------------------------------------------
    pool_case("pool-no-agents", "agents: []\n", "bad-pool.yaml: agents: Tuple should have at least 1 item"),
    pool_case("pool-duplicate-id", "agents: [{id: a, model: m, local: x}, {id: a, model: n, local: y}]\n", "bad-pool.yaml: agents: duplicate agent id 'a'"),
    pool_case("pool-unknown-panel-agent", ONE + "panel: [alpah]\n", "bad-pool.yaml: panel: unknown agent 'alpah'. Did you mean 'alpha'?"),
    pool_case("pool-unknown-role-agent", ONE + "roles: {merger: beta}\n", "bad-pool.yaml: roles.merger: unknown agent 'beta'"),
    pool_case("pool-local-and-base-url", "agents: [{id: a, model: m, local: x, base_url: 'http://h/v1'}]\n", "agents[0]: give exactly one of base_url"),
    pool_case("pool-neither-endpoint", "agents: [{id: a, model: m}]\n", "bad-pool.yaml: agents[0]: give exactly one"),
    pool_case("pool-negative-price", "agents: [{id: a, model: m, local: x, price_input_per_mtok: -1}]\n", "agents[0].price_input_per_mtok: Input should be greater than or equal to 0"),
    pool_case("pool-base-url-not-url", "agents: [{id: a, model: m, base_url: not a url}]\n", "agents[0].base_url: must be an http:// or https:// URL"),
    pool_case("pool-not-utf8", b"agents: []\n\xff\xfe\n", "bad-pool.yaml: not UTF-8 text"),
    Case("pool-is-a-folder", (*ASK, "--config", "pools"), "pools: is a folder", {"pools/x": ""}),
    # -- mlflow.yaml through ORCH_MLFLOW_CONFIG ------------------------------------------------
    mlflow_case("mlflow-unknown-key", "trackng_uri: sqlite:///x.db\n", "mlflow.yaml: trackng_uri: unknown field"),
    mlflow_case("mlflow-sample-rate", "tracing: {sample_rate: 2}\n", "mlflow.yaml: tracing.sample_rate: Input should be less"),
    mlflow_case("mlflow-not-utf8", b"\xff\xfe", "mlflow.yaml: not UTF-8 text"),
    mlflow_case("mlflow-unknown-placeholder", "experiments: {ask: 'ask-{nope}'}\n", "experiments.ask: unknown placeholder ['nope']"),
    mlflow_case("mlflow-file-store", "tracking_uri: ./mlruns\n", "mlflow.yaml: tracking_uri: './mlruns' is MLflow's file store"),
    # -- datasets: `orch eval --benchmark FILE` ------------------------------------------------
    data_case("data-jsonl-not-json", "data.jsonl", GOOD_JSONL + '{"question": "Third?", \n', "data.jsonl: line 3: not valid JSON"),
    data_case("data-missing-question-column", "data.jsonl", '{"prompt": "Q?", "options": ["x", "y"], "answer": "A"}\n', "data.jsonl: column 'question': not found; available columns: ['prompt',"),
    data_case("data-answer-not-an-option", "data.jsonl", Q3, "data.jsonl: line 3: answer 'Q' is not a letter A–B"),
    data_case("data-empty-file", "data.jsonl", "", "data.jsonl: no rows"),
    data_case("data-csv-ragged-row", "data.csv", RAGGED, "data.csv: row 1: more fields than the header's 3"),
    data_case("data-not-utf8", "data.jsonl", b"\xff\xfe", "data.jsonl: not UTF-8 text"),
    Case("data-is-a-folder", EVAL, "data.jsonl: is a folder", {"data.jsonl/x": ""}),
    # -- item JSON for `orch ask --item` -------------------------------------------------------
    item_case("item-invalid-json", '{"question": "Q?", "options": ["x", "y"]', "item.json: line 1: invalid JSON"),
    Case("item-is-a-folder", ("ask", "--item", "items", "--graph", "vote", "--config", "pool.yaml"), "items: is a folder", {"items/x": ""}),
    item_case("item-missing-question", '{"options": ["x", "y"]}', "item.json: question: Field required"),
    item_case("item-answer-not-an-option", '{"question": "Q?", "options": ["x", "y"], "answer": "C"}', ("item.json: ", "answer: 'C' is not one of ['A', 'B']")),
    # -- CLI arguments of `orch eval` ----------------------------------------------------------
    args_case("args-systems-empty", "--systems: no system given", systems=","),
    args_case("args-systems-unknown-agent", "--systems: single:nobody: unknown agent 'nobody'", systems="single:nobody"),
    args_case("args-sample-bad-size", "--sample: 'paper:abc': N must be a positive whole number", sample="paper:abc"),
    args_case("args-sample-unknown", "--sample: unknown preset 'nope'", sample="nope"),
    args_case("args-exclude-sample-unknown", "--exclude-sample: unknown preset 'nope'", exclude_sample="nope"),
    args_case("args-exclude-sample-bad-seed", "--exclude-sample: 'paper@x': the seed after @ must be a whole number", exclude_sample="paper@x"),
    args_case("args-workers-and-scheduler", "--scheduler: give --workers N (a local cluster) or --scheduler ADDRESS, not both", workers="2", scheduler="tcp://127.0.0.1:9"),
    args_case("args-workers-run-budget", "--max-cost: a run budget is not kept across the workers of --workers", workers="2", max_cost="1"),
    args_case("args-scheduler-sqlite-store", "environment: ORCH_EVAL_STORE: workers on other machines cannot share 'sqlite:///", scheduler="tcp://127.0.0.1:9"),
    # -- environment ---------------------------------------------------------------------------
    pool_case("env-key-variable-unset-ask", KEYLESS, "agent 'one': environment variable ORCH_TEST_NEVER_SET is not set"),
    Case("env-key-variable-unset-eval", (*EVAL[:-1], "keyless.yaml"), "agent 'one': environment variable ORCH_TEST_NEVER_SET is not set",
         {"data.jsonl": GOOD_JSONL, "keyless.yaml": KEYLESS}),
    Case("env-tracking-uri-unknown-scheme", (*ASK, "--graph", "vote", "--config", "pool.yaml"),
         "environment: MLFLOW_TRACKING_URI: 'foo://x': unknown scheme 'foo'", env={"MLFLOW_TRACKING_URI": "foo://x"}),
    Case("env-tracking-uri-unknown-scheme-eval", EVAL, "environment: MLFLOW_TRACKING_URI: 'foo://x': unknown scheme 'foo'",
         {"data.jsonl": GOOD_JSONL}, {"MLFLOW_TRACKING_URI": "foo://x"}),
    Case("env-tracking-uri-under-a-file", ("run", "--graph", "vote", "--limit", "1", "--config", "pool.yaml"),
         "MLFLOW_TRACKING_URI: 'sqlite:///pool.yaml/mlflow.db': ", env={"MLFLOW_TRACKING_URI": "sqlite:///pool.yaml/mlflow.db"}),
    Case("env-tracking-server-down", (*ASK, "--graph", "vote", "--config", "pool.yaml"),
         "MLFLOW_TRACKING_URI: 'http://127.0.0.1:9': the MLflow server is unreachable", env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}),
    Case("mlflow-tracking-uri-unknown-scheme", (*ASK, "--graph", "vote", "--config", "pool.yaml"),
         "mlflow.yaml: tracking_uri: 'foo://x': unknown scheme 'foo'", {"mlflow.yaml": "tracking_uri: foo://x\n"},
         {"ORCH_MLFLOW_CONFIG": "mlflow.yaml", "MLFLOW_TRACKING_URI": ""}),
    Case("spec-weigh-missing-profile", ("graph", "show", "weighted.yaml"),
         ("weighted.yaml: nodes.weigh.config.profile: no reliability profile 'my-dev'", "orch profile fit my-dev"),
         {"weighted.yaml": "name: w\nnodes:\n  answer: {type: direct, fan_out: panel}\n"
          "  weigh: {type: weigh, config: {profile: my-dev}}\n"
          "edges: [[START, answer], [answer, weigh], [weigh, END]]\n"}),
    Case("env-eval-store-unknown-scheme", EVAL, "environment: ORCH_EVAL_STORE: 'mysql://db/orch': use sqlite:///path or postgresql://",
         {"data.jsonl": GOOD_JSONL}, {"ORCH_EVAL_STORE": "mysql://db/orch"}),
    Case("env-call-cache-server-down", EVAL, "environment: ORCH_CALL_CACHE: 'postgresql://orch:***@127.0.0.1:9/orch': cannot connect (",
         {"data.jsonl": GOOD_JSONL}, {"ORCH_CALL_CACHE": "postgresql://orch:secret@127.0.0.1:9/orch"}),
    Case("env-eval-store-server-down", EVAL, "environment: ORCH_EVAL_STORE: 'postgresql://127.0.0.1:9/orch': cannot connect (",
         {"data.jsonl": GOOD_JSONL}, {"ORCH_EVAL_STORE": "postgresql://127.0.0.1:9/orch"}),
    Case("env-state-dir-is-a-file", EVAL, "environment: ORCH_STATE_DIR: 'state-file' is a file, not a folder",
         {"data.jsonl": GOOD_JSONL, "state-file": "x\n"}, {"ORCH_STATE_DIR": "state-file"}),
]
# fmt: on


def _param(case: Case) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case.id, id=case.id, marks=marks)


def _environment(tmp_path: Path, case: Case) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "MLFLOW_"))}
    env.update(
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}",
        ORCH_STATE_DIR=str(tmp_path / "state"),
        ORCH_HOME=str(tmp_path / "home"),
        PYTHONPATH=os.pathsep.join([str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]),
        COLUMNS="200",
    )
    env.update(case.env)  # relative paths: the subprocess runs in tmp_path
    return env


def _write_files(tmp_path: Path, files: dict[str, str | bytes]) -> None:
    (tmp_path / "pool.yaml").write_text(POOL, encoding="utf-8")
    for name, body in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(body, encoding="utf-8")


def _run_case(case: Case, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    _write_files(tmp_path, case.files)
    return subprocess.run(
        [sys.executable, "-m", "orch", *case.args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_environment(tmp_path, case),
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """Every case's CLI run, started in parallel (each is a ~1 s subprocess), by case id."""
    dirs = {case.id: tmp_path_factory.mktemp(case.id) for case in CASES}
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {case.id: pool.submit(_run_case, case, dirs[case.id]) for case in CASES}
    return {case_id: (dirs[case_id], future.result()) for case_id, future in futures.items()}


def _runs_in(db: Path) -> list[object]:
    if not db.exists():
        return []
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    return list(client.search_runs(ids, run_view_type=ViewType.ALL)) if ids else []


@pytest.mark.parametrize("case_id", [_param(c) for c in CASES])
def test_bad_input_is_one_line_exit_2_and_nothing_partial(case_id: str, outcomes: dict) -> None:
    case = next(c for c in CASES if c.id == case_id)
    tmp_path, done = outcomes[case_id]
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("orch: error: "), lines[0]
    for text in (case.expect,) if isinstance(case.expect, str) else case.expect:
        assert text in lines[0], lines[0]
    assert _runs_in(tmp_path / "mlflow.db") == [], "an MLflow run was created"
    assert not (tmp_path / "state" / "evals.sqlite").exists(), "an evaluation record was created"


def test_the_corpus_is_large_and_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) >= 35 and len(set(ids)) == len(ids)
