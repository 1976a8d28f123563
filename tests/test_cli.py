"""The CLI as users run it, in a subprocess: exit codes, one-line errors, offline PNGs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]


def orch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orch", *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )


def test_graph_draw_writes_a_png_offline(tmp_path: Path) -> None:
    done = orch("graph", "draw", "orch", "-o", "g.png", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_graph_show_prints_mermaid(tmp_path: Path) -> None:
    done = orch("graph", "show", "vote", cwd=tmp_path)
    assert done.returncode == 0 and "answer -.-> vote" not in done.stdout and "graph TD;" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["graph", "show", "bad.yaml"], "bad.yaml: nodes.m.type: unknown node type 'marge'. Did you mean 'merge'?"),
        (
            ["run", "--subject", "anatomyy", "--graph", "bad.yaml"],
            "mmlu: --subject: unknown subject 'anatomyy'. Did you mean 'anatomy'?",
        ),
        (["ask", "q?", "-o", "a", "-o", "b", "--config", "missing.yaml"], "missing.yaml: file not found"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "bad.yaml").write_text("name: bad\nnodes:\n  m: {type: marge}\nedges: [[START, m], [m, END]]\n")
    done = orch(*args, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"orch: error: {message}"), done.stderr


def test_eval_on_your_own_csv_with_a_column_mapping(tmp_path: Path) -> None:
    from tests.fake_openai import fake_openai

    (tmp_path / "quiz.csv").write_text("q,A,B,C,gold\nFirst?,x,y,z,B\nSecond?,x,y,z,C\n")
    with fake_openai(lambda model, enum: "B") as srv:
        (tmp_path / "pool.yaml").write_text(f"agents: [{{id: one, model: m, base_url: '{srv['base_url']}'}}]\n")
        args = [
            "eval",
            "--benchmark",
            "quiz.csv",
            "--sample",
            "all",
            "--systems",
            "single:one",
            "--config",
            "pool.yaml",
            "--map",
            "question=q",
            "--map",
            "options=A,B,C",
            "--map",
            "answer=gold",
            "--noninferiority-margin",
            "0.05",
        ]
        done = subprocess.run(
            [sys.executable, "-m", "orch", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=300,
            check=False,
            env={**__import__("os").environ, "COLUMNS": "200"},
        )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "single:one" in done.stdout and "50.0%" in done.stdout and len(srv["requests"]) == 2
    assert "verdict: no verdict: no ensemble" in done.stdout  # one agent alone: nothing to ensemble
    bad = orch("eval", "--benchmark", "quiz.csv", "--map", "question", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "orch: error: --map: question: use FIELD=COLUMN, e.g. question=prompt or options=A,B,C,D"
    )


def test_a_huge_question_is_an_input_error_not_a_huge_store(tmp_path: Path) -> None:
    import json

    (tmp_path / "huge.json").write_text(json.dumps({"question": "x" * 60_000_000, "options": ["a", "b"]}))
    done = orch("ask", "--item", "huge.json", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "orch: error: huge.json: question: String should have at most 50000 characters"
