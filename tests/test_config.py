"""Pool config, mlflow.yaml and items: bad input is one line naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from orch.config import DEFAULT_POOL_PATH, load_pool_config
from orch.errors import ConfigError
from orch.items import Item
from orch.mlflow_config import MlflowSettings, load_mlflow_settings

REPO = Path(__file__).parents[1]


def test_embedded_pool_includes_the_strongest_model_as_merger() -> None:
    config, path = load_pool_config()
    assert path == DEFAULT_POOL_PATH
    assert config.role("merger") == "qwen-1.5b"
    assert config.agent("qwen-1.5b").local == "qwen2.5-coder-1.5b"
    assert set(config.default_panel) == {"qwen-1.5b", "qwen-0.5b", "smollm2-135m"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("agents: []", "agents: Tuple should have at least 1 item"),
        ("agents: [{id: a, model: m}]", "agents[0]: give exactly one of base_url"),
        ("agents: [{id: a, model: m, local: x, base_url: http://h/v1}]", "agents[0]: give exactly one"),
        ("agents: [{id: a, model: m, local: x, temprature: 0}]", "agents[0].temprature: unknown field"),
        ("agents: [{id: a, model: m, local: x}, {id: a, model: n, local: y}]", "agents: duplicate agent id 'a'"),
        (
            "agents: [{id: alpha, model: m, local: x}]\npanel: [alpah]",
            "panel: unknown agent 'alpah'. Did you mean 'alpha'?",
        ),
        ("agents: [{id: alpha, model: m, local: x}]\nroles: {merger: beta}", "roles.merger: unknown agent 'beta'"),
        (
            "agents: [{id: a, model: m, local: x, max_tokens: 0}]",
            "agents[0].max_tokens: Input should be greater than 0",
        ),
        ("agents: [{id: 'bad id', model: m, local: x}]", "agents[0].id: String should match pattern"),
    ],
)
def test_bad_pool_config_names_file_and_field(write, body: str, message: str) -> None:
    path = write("pool.yaml", body)
    with pytest.raises(ConfigError) as raised:
        load_pool_config(path)
    assert "\n" not in str(raised.value)
    assert str(raised.value).startswith(f"{path}: "), str(raised.value)
    assert message in str(raised.value)


def test_orch_config_env_selects_the_pool(write, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        "pool.yaml",
        "agents: [{id: remote, model: gpt, base_url: 'http://127.0.0.1:9/v1', "
        "api_key_env: MY_KEY, price_input_per_mtok: 0.15, price_output_per_mtok: 0.6}]",
    )
    monkeypatch.setenv("ORCH_CONFIG", str(path))
    config, used = load_pool_config()
    assert used == path and config.agents[0].cost(1_000_000, 1_000_000) == pytest.approx(0.75)
    assert "MY_KEY" not in config.model_dump_json().replace('"api_key_env":"MY_KEY"', "")


def test_repository_mlflow_yaml_is_valid_and_matches_the_defaults() -> None:
    assert load_mlflow_settings(REPO / "mlflow.yaml") == MlflowSettings()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("tracking_uri: ./mlruns", "tracking_uri: './mlruns' is MLflow's file store"),
        ("tracing: {enabled: yes, sample_rate: 2}", "tracing.sample_rate: Input should be less than or equal to 1"),
        ("experiment: x", "experiment: unknown field"),
    ],
)
def test_bad_mlflow_yaml(write, body: str, message: str) -> None:
    path = write("mlflow.yaml", body)
    with pytest.raises(ConfigError, match=message):
        load_mlflow_settings(path)


def test_item_rejects_gold_outside_its_options() -> None:
    with pytest.raises(ValueError, match=r"answer: 'E' is not one of \['A', 'B', 'C', 'D'\]"):
        Item(id="x", question="q", options=("a", "b", "c", "d"), answer="E")
    assert Item(id="n", question="2+2?", answer="4").kind == "number"
