"""Shared fixtures: a real SQLite MLflow store per session, scripted pools, and a guard that keeps
unit tests from starting real models (tests marked `llamacpp` opt in)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orch.backends.llamacpp import LocalServer
from orch.backends.pool import AgentPool
from orch.config import PoolConfig
from orch.items import Item
from orch.testing import ScriptedChatModel, schema_enum

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One real SQLite tracking store for the whole session (creating one runs migrations: slow)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(autouse=True)
def _isolated(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, mlflow_store: str, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store)
    strict = tmp_path / "mlflow-strict.yaml"
    strict.write_text("strict: true\n")
    monkeypatch.setenv("ORCH_MLFLOW_CONFIG", str(strict))
    monkeypatch.delenv("ORCH_CONFIG", raising=False)
    monkeypatch.setenv("ORCH_STATE_DIR", str(tmp_path / "state"))
    if request.node.get_closest_marker("llamacpp") is None:

        def refuse(*_: object, **__: object) -> None:
            raise AssertionError("unit tests must not start local models; mark the test @pytest.mark.llamacpp")

        monkeypatch.setattr(LocalServer, "start", refuse)


POOL = PoolConfig.model_validate(
    {
        "agents": [
            {"id": "strong", "model": "m-strong", "base_url": "http://127.0.0.1:9/v1"},
            {"id": "mid", "model": "m-mid", "base_url": "http://127.0.0.1:9/v1"},
            {"id": "weak", "model": "m-weak", "base_url": "http://127.0.0.1:9/v1"},
        ],
        "panel": ["strong", "mid", "weak"],
        "roles": {"merger": "strong"},
    }
)
"""A pool of three fake agents; declaration order (strong, mid, weak) is the tie-break priority."""


@pytest.fixture
def pool_config() -> PoolConfig:
    return POOL


@pytest.fixture
def item() -> Item:
    return Item(
        id="t/capital",
        question="What is the capital of France?",
        options=("Berlin", "Madrid", "Paris", "Rome"),
        answer="C",
        category="geography",
    )


def schema_name(kwargs: dict[str, Any]) -> str | None:
    fmt = kwargs.get("response_format") or {}
    return fmt.get("json_schema", {}).get("name") if isinstance(fmt, dict) else None


def analyst(answer: str, confidence: int = 70, *, merge_answer: str | None = None) -> Callable[..., str]:
    """A scripted agent: analyses propose `answer`; merge and direct calls answer `merge_answer or answer`;
    as a dispatcher it writes as many sub-questions as asked for."""

    def reply(messages: list, kwargs: dict[str, Any]) -> str:
        if schema_name(kwargs) == "sub_questions":
            asked = kwargs["response_format"]["json_schema"]["schema"]["properties"]["sub_questions"]["maxItems"]
            return json.dumps({"sub_questions": [f"sub-question {i}" for i in range(1, asked + 1)]})
        if schema_name(kwargs) == "analysis":
            letters = kwargs["response_format"]["json_schema"]["schema"]["properties"]["eliminations"]["required"]
            return json.dumps(
                {
                    "key_points": [f"point from {answer}"],
                    "eliminations": {letter: "note" for letter in letters},
                    "answer": answer,
                    "confidence": confidence,
                }
            )
        assert schema_enum(kwargs) is not None
        return json.dumps({"answer": merge_answer or answer})

    return reply


@pytest.fixture
def scripted_pool(pool_config: PoolConfig) -> Callable[..., tuple[AgentPool, dict[str, ScriptedChatModel]]]:
    def make(**scripts: Any) -> tuple[AgentPool, dict[str, ScriptedChatModel]]:
        models = {agent: ScriptedChatModel(script=script) for agent, script in scripts.items()}
        return AgentPool.from_chat_models(pool_config, models), models

    return make


@pytest.fixture
def write(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    yield _write
