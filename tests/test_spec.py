"""Spec pipeline layers: YAML → GraphSpec → checked nodes and edges → StateGraph; each error is one line."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from orch.app.runner import GraphRunner
from orch.errors import SpecError
from orch.graphs import Graph, GraphSpec, builtin_graphs, load_graph, mermaid, to_dot
from orch.nodes.context import RunContext
from tests.conftest import analyst

SNAPSHOTS = Path(__file__).parent / "snapshots"

GOOD = """\
name: two-then-vote
nodes:
  answer: {type: direct, fan_out: [strong, weak]}
  vote: vote
edges: [[START, answer], [answer, vote], [vote, END]]
"""


def spec_file(write, body: str, name: str = "spec.yaml") -> Path:
    return write(name, textwrap.dedent(body))


def compile_file(path: Path, pool=None) -> Graph:
    return load_graph(path, pool=pool)


def runner_for(graph: Graph, pool) -> GraphRunner:
    cast = graph.cast(pool.config)
    return GraphRunner(graph.name, graph.compile(cast), RunContext(pool=pool, panel=cast.panel, roles=cast.roles))


@pytest.mark.parametrize("name", sorted(builtin_graphs()))
def test_builtin_graph_compiles_and_matches_mermaid_snapshot(name: str, pool_config) -> None:
    from orch.nodes.profiles import AgentReliability, save_profile

    save_profile("mmlu-dev", {}, {"strong": AgentReliability(accuracy=0.5, answered=1)})  # orch's
    graph = load_graph(name, pool=pool_config)
    compiled = graph.compile(graph.cast(pool_config))
    text = mermaid(compiled)
    snapshot = SNAPSHOTS / f"{name}.mmd"
    if os.environ.get("ORCH_UPDATE_SNAPSHOTS") == "1" or not snapshot.exists():
        snapshot.write_text(text)
    assert text == snapshot.read_text()
    assert f'digraph "{name}"' in to_dot(compiled)


BAD_SPECS = [
    (
        "unknown type",
        "nodes:\n  a: {type: analyse}\nedges: [[START, a], [a, END]]",
        "spec.yaml: nodes.a.type: unknown node type 'analyse'. Did you mean 'analyze'?",
    ),
    (
        "bad config field",
        "nodes:\n  m: {type: merge, config: {agnet: strong}}\nedges: [[START, m], [m, END]]",
        "spec.yaml: nodes.m.config.agnet: unknown field; valid fields of 'merge'",
    ),
    (
        "bad config value",
        "nodes:\n  m: {type: merge, config: {rationale_chars: -1}}\nedges: [[START, m], [m, END]]",
        "spec.yaml: nodes.m.config.rationale_chars: Input should be greater than or equal to 0",
    ),
    (
        "unknown edge node",
        "nodes:\n  v: vote\nedges: [[START, v], [v, ENd]]",
        "spec.yaml: edges[1][1]: unknown node 'ENd'. Did you mean 'END'?",
    ),
    (
        "missing edge out",
        "nodes:\n  v: vote\n  w: vote\nedges: [[START, v], [v, END], [START, w]]",
        "spec.yaml: nodes.w: no edge leaves this node",
    ),
    ("no edge to END", "nodes:\n  v: vote\nedges: [[START, v]]", "spec.yaml: edges: no edge reaches END"),
    (
        "unreachable",
        "nodes:\n  v: vote\n  w: vote\nedges: [[START, v], [v, END], [w, v]]",
        "spec.yaml: nodes.w: no edge leads to this node",
    ),
    (
        "unreachable cycle",
        "nodes:\n  v: vote\n  a: vote\n  b: vote\nedges: [[START, v], [v, END], [a, b], [b, a], [b, END]]",
        "spec.yaml: nodes.a: unreachable from START",
    ),
    (
        "cycle without exit",
        "nodes:\n  a: vote\n  b: vote\nedges: [[START, a], [a, b], [b, a], [b, END]]",
        "spec.yaml: edges: cycle without exit: a -> b -> a",
    ),
    (
        "fan-out with two inputs",
        "nodes:\n  d: decompose\n  a: {type: analyze, fan_out: panel}\n  m: merge\n"
        "edges: [[START, d], [START, a], [d, a], [a, m], [m, END]]",
        "spec.yaml: nodes.a.fan_out: a fanned-out node needs exactly one incoming edge, it has 2",
    ),
    (
        "nothing decides",
        "nodes:\n  a: {type: analyze, fan_out: panel}\nedges: [[START, a], [a, END]]",
        "spec.yaml: nodes: no node decides the answer",
    ),
    (
        "unknown top-level key",
        "nodes:\n  v: vote\nedges: [[START, v], [v, END]]\npanle: [strong]",
        "spec.yaml: panle: unknown field",
    ),
    ("missing name", "nodes:\n  v: vote\nedges: [[START, v], [v, END]]", "spec.yaml: name: required field is missing"),
    ("not a mapping", "- vote", "spec.yaml: must be a mapping at the top level, got list"),
    ("yaml syntax", "nodes: {v: vote\nedges: []", "spec.yaml: line 3: invalid YAML"),
    (
        "dotted type missing",
        "nodes:\n  v: {type: 'nowhere.mod:Thing'}\nedges: [[START, v], [v, END]]",
        "spec.yaml: nodes.v.type: cannot import node type 'nowhere.mod:Thing'",
    ),
    ("reserved id", "nodes:\n  END: vote\nedges: [[START, END]]", "spec.yaml: nodes.END: 'END' is reserved"),
]


@pytest.mark.parametrize(("case", "body", "message"), BAD_SPECS, ids=[c[0] for c in BAD_SPECS])
def test_bad_spec_is_one_line_naming_file_and_key(write, case: str, body: str, message: str) -> None:
    if not body.startswith("- ") and "name:" not in body and case != "missing name":
        body = "name: bad\n" + body
    path = write("spec.yaml", body)
    with pytest.raises(SpecError) as raised:
        compile_file(path)
    text = str(raised.value)
    assert "\n" not in text
    assert text.startswith(str(path.parent) + "/" + message), text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "nodes:\n  m: {type: merge, config: {agent: stronk}}\nedges: [[START, m], [m, END]]",
            "nodes.m.config.agent: 'stronk' is neither an agent nor a role. Did you mean 'strong'?",
        ),
        (
            "nodes:\n  a: {type: direct, fan_out: [strong, wek]}\n  v: vote\nedges: [[START, a], [a, v], [v, END]]",
            "nodes.a.fan_out[1]: unknown agent 'wek'. Did you mean 'weak'?",
        ),
        (
            "panel: [strong, nobody]\nnodes:\n  v: vote\nedges: [[START, v], [v, END]]",
            "panel[1]: unknown agent 'nobody'",
        ),
    ],
)
def test_agent_references_are_checked_against_the_pool(write, pool_config, body: str, message: str) -> None:
    path = write("spec.yaml", "name: bad\n" + body)
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]").replace("?", r"\?")):
        compile_file(path, pool_config)


def test_yaml_only_user_graph_runs_two_analysts_then_vote(write, pool_config, scripted_pool, item) -> None:
    graph = compile_file(write("two.yaml", GOOD), pool_config)
    assert graph.required_agents(pool_config) == ("strong", "weak")
    pool, _ = scripted_pool(strong=analyst("C"), weak=analyst("A"))
    result = runner_for(graph, pool).invoke(item)
    assert [a.agent for a in result.analyses] == ["strong", "weak"]
    assert (result.answer, result.decision.method, result.decision.note) == (
        "C",
        "vote",
        "tie broken by agent priority",
    )


def test_user_node_type_by_dotted_path(write, pool_config, scripted_pool, item) -> None:
    body = GOOD.replace("vote: vote", "vote: {type: 'tests.user_nodes:FirstAnswer', config: {prefer: weak}}")
    graph = compile_file(write("user.yaml", body), pool_config)
    pool, _ = scripted_pool(strong=analyst("C"), weak=analyst("A"))
    result = runner_for(graph, pool).invoke(item)
    assert result.answer == "A" and result.decision.note == "first answer of weak"
    assert result.decision.method == "first-answer"  # a user's node names its own decision rule


def test_spec_hash_ignores_layout_and_comments() -> None:
    a = GraphSpec.from_text(GOOD)
    b = GraphSpec.from_text("# a comment\n" + GOOD.replace("vote: vote", "vote:\n    type: vote"))
    assert a.spec_hash == b.spec_hash
    assert a.spec_hash != GraphSpec.from_text(GOOD.replace("two-then-vote", "other")).spec_hash


def test_unknown_graph_name_lists_builtins() -> None:
    with pytest.raises(SpecError, match=r"orhc: no such graph. Did you mean 'orch'\? Built-in graphs: \["):
        load_graph("orhc")


def test_shipped_json_schema_is_current() -> None:
    import json

    from orch.graphs.library import BUILTIN_DIR
    from orch.graphs.schema import graph_json_schema

    assert json.loads((BUILTIN_DIR / "graph.schema.json").read_text()) == graph_json_schema(), (
        "run `orch graph schema` to regenerate graphs/graph.schema.json"
    )


def test_png_is_drawn_without_graphviz_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import orch.graphs.draw as draw

    compiled = load_graph("orch-paper").compile()
    assert [row[0] for row in draw.layers(compiled.get_graph())] == [
        "__start__",
        "decompose",
        "analyze",
        "merge",
        "__end__",
    ]
    monkeypatch.setattr(draw.shutil, "which", lambda _: None)
    out = draw.render_png(compiled, tmp_path / "g.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
