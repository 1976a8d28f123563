"""Planted keys, as a user's real keys would travel: each agent's key is a unique value in the
environment variable its `api_key_env` names, `orch ask` and `orch eval` run in a fresh working
folder against loopback endpoints that want that key, and then every file the runs left (MLflow
store, artifacts, `.orch` stores with their WAL files, logs, temp files), their stdout and stderr
and every MLflow trace are searched for the key in the forms it could take. Each key must also
reach only its own agent's endpoint (never another's, nor the proxy the environment names); a key
echoed by an endpoint, or pasted where a variable name belongs, must be shown and stored nowhere."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import sqlite3
import subprocess
import sys
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.fake_openai import reply_for
from tests.fault_server import (
    FaultServer,
    Reply,
    Request,
    completion,
    echo_authorization,
    fault_server,
    json_reply,
    models_list,
)

ITEMS = [
    {"question": "Which gas do plants absorb?", "options": ["Oxygen", "Carbon dioxide", "Helium"], "answer": "B"},
    {"question": "What is 2 + 3?", "options": ["4", "5", "6"], "answer": "B"},
    {"question": "Which planet is largest?", "options": ["Mars", "Jupiter", "Venus"], "answer": "B"},
]
ASK = ["ask", "Which gas do plants absorb?", "-o", "Oxygen", "-o", "Carbon dioxide", "--config", "pool.yaml"]
EVAL = ["eval", "-b", "quiz.jsonl", "-s", "all", "--config", "pool.yaml"]


def planted() -> str:
    return f"sk-orch-planted-{uuid.uuid4().hex}"


# --- where a key could hide ------------------------------------------------------------------


def needles(key: str) -> dict[str, bytes]:
    """The byte strings that would betray `key`: itself (UTF-8 and UTF-16), base64 of it at each of
    the three alignments it can have inside a longer encoded text (plain and URL-safe), its hex, and
    three overlapping 12-character pieces of its random part, so a key cut short by a truncated
    message (which a redaction of the whole key misses) still counts."""
    raw = key.encode()
    found = {"raw": raw, "utf-16": key.encode("utf-16-le"), "hex": raw.hex().encode()}
    for shift in range(3):
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            # the first group holds the bytes before the key, the last may hold padding: drop both
            found[f"{name}+{shift}"] = encode(b"\0" * shift + raw)[4:-4]
    secret = key.rsplit("-", 1)[-1]
    found |= {f"piece {secret[i : i + 12]}": secret[i : i + 12].encode() for i in range(0, len(secret) - 11, 10)}
    return found


def _contents(path: Path) -> Iterator[tuple[str, bytes]]:
    """A file's bytes, and what a gzip or zip file holds (MLflow may compress artifacts)."""
    data = path.read_bytes()
    yield "", data
    if data[:2] == b"\x1f\x8b":
        yield " (gunzipped)", gzip.decompress(data)
    elif data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                yield f" ({name} in zip)", archive.read(name)


def leaks(key: str, folder: Path | None, outputs: Mapping[str, str | bytes] = {}) -> list[str]:
    """Where `key` shows, in any of its forms: file names and contents under `folder`, then `outputs`."""
    marks = needles(key)
    hits: list[str] = []

    def scan(where: str, data: bytes) -> None:
        hits.extend(f"{where}: {name}" for name, needle in marks.items() if needle in data)

    for path in sorted(folder.rglob("*")) if folder else []:
        where = str(path.relative_to(folder))
        scan(f"the name {where}", where.encode())
        if path.is_file():
            for inside, data in _contents(path):
                scan(where + inside, data)
    for where, text in outputs.items():
        scan(where, text.encode() if isinstance(text, str) else text)
    return hits


def traces_json(store: str) -> tuple[int, str]:
    """(how many traces, all of them with their spans as JSON) in the tracking store."""
    client = MlflowClient(tracking_uri=store)
    ids = [e.experiment_id for e in client.search_experiments()]
    traces = []
    page = client.search_traces(locations=ids, max_results=500)
    traces.extend(page)
    while page.token:
        page = client.search_traces(locations=ids, max_results=500, page_token=page.token)
        traces.extend(page)
    return len(traces), "\n".join(t.to_json() for t in traces)


def test_the_sweep_finds_a_key_in_any_of_its_forms(tmp_path: Path) -> None:
    """The search below cannot pass by looking in the wrong way."""
    key = planted()
    (tmp_path / "plain.txt").write_text(f"error: Bearer {key}\n")
    (tmp_path / "b64.json").write_text(json.dumps({"auth": base64.b64encode(f"x:{key}".encode()).decode()}))
    (tmp_path / "cut.log").write_text(f"invalid credentials: Bearer {key[:30]}…")
    (tmp_path / "packed.gz").write_bytes(gzip.compress(key.encode()))
    (tmp_path / "clean.txt").write_text(f"Bearer {planted()}")
    assert sorted({hit.split(":")[0] for hit in leaks(key, tmp_path)}) == [
        "b64.json",
        "cut.log",
        "packed.gz (gunzipped)",
        "plain.txt",
    ]
    assert leaks(key, None, {"stderr": f"...{key[16:30]}..."}) == ["stderr: piece " + key[16:28]]


# --- a working folder with two keyed endpoints -------------------------------------------------


def _keyed(key: str, model: str, echo: int | None) -> tuple[object, object]:
    """Scripts for an endpoint that serves `model` to `Bearer key` only (401 otherwise), or whose chat
    always answers the HTTP status `echo` with a body repeating the Authorization header."""

    def allowed(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {key}"

    def refused() -> Reply:
        return json_reply({"error": {"message": "invalid api key", "type": "invalid_request_error"}}, 401)

    def chat(request: Request) -> Reply:
        if not allowed(request):
            return refused()
        schema = request.body.get("response_format", {}).get("json_schema", {}).get("schema", {})
        enum = schema.get("properties", {}).get("answer", {}).get("enum", ["A"])
        return completion(reply_for(schema, enum[0]), model=model)

    def models(request: Request) -> Reply:
        return models_list(model) if allowed(request) else refused()

    return (chat if echo is None else echo_authorization(echo)), models


@dataclass
class Folder:
    path: Path
    env: dict[str, str]
    keys: dict[str, str]
    """Agent id → its planted key."""
    servers: dict[str, FaultServer]
    """Agent id → its endpoint."""
    outputs: dict[str, str]
    """Every run's stdout and stderr, by command."""
    proxy: FaultServer
    """The HTTP(S) proxy of the runs' environment."""

    def orch(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "orch", *args],
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.outputs[f"{args[0]} stdout"] = self.outputs.get(f"{args[0]} stdout", "") + done.stdout
        self.outputs[f"{args[0]} stderr"] = self.outputs.get(f"{args[0]} stderr", "") + done.stderr
        return done

    @property
    def store(self) -> str:
        return f"sqlite:///{self.path / 'mlflow.db'}"


@contextmanager
def working_folder(
    tmp_path: Path, *, echo: Mapping[str, int] = {}, retries: int = 0, pool: str | None = None
) -> Iterator[Folder]:
    """A fresh folder as a user has it: `pool.yaml` (agents a and b, each on its own endpoint with its
    own key variable; a merges), `quiz.jsonl`, a strict `mlflow.yaml` and MLflow's default store
    (`mlflow.db` here). orch's home and the temp folder are inside it too, so the sweep sees them."""
    folder = tmp_path / "work"
    folder.mkdir()
    keys = {"a": planted(), "b": planted()}
    with ExitStack() as stack:
        servers = {agent: stack.enter_context(fault_server()) for agent in keys}
        proxy = stack.enter_context(fault_server())  # set as every proxy: a loopback call must not go there
        for agent, server in servers.items():
            server.chat, server.models = _keyed(keys[agent], f"m-{agent}", echo.get(agent))
        (folder / "pool.yaml").write_text(
            pool
            or "agents:\n"
            + "".join(
                f"  - {{id: {agent}, model: m-{agent}, base_url: '{server.base_url}', "
                f"api_key_env: PLANTED_KEY_{agent.upper()}, max_retries: {retries}, timeout_s: 20}}\n"
                for agent, server in servers.items()
            )
            + "panel: [a, b]\nroles: {merger: a}\n"
        )
        (folder / "quiz.jsonl").write_text("".join(json.dumps(row) + "\n" for row in ITEMS))
        (folder / "mlflow.yaml").write_text("strict: true\n")
        for sub in ("home", "tmp"):
            (folder / sub).mkdir()
        proxied = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "MLFLOW_"))}
        env = {k: v for k, v in env.items() if k.lower() not in proxied}
        env |= {name: proxy.base_url.removesuffix("/v1") for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")}
        env |= {"ORCH_HOME": str(folder / "home"), "TMPDIR": str(folder / "tmp"), "COLUMNS": "200"}
        env |= {f"PLANTED_KEY_{agent.upper()}": key for agent, key in keys.items()}
        yield Folder(folder, env, keys, servers, {}, proxy)


def assert_nowhere(folder: Folder) -> None:
    """No key in any file under the folder, any output, or any trace."""
    count, traces = traces_json(folder.store)
    assert count > 0  # the traces were there to search
    for agent, key in folder.keys.items():
        found = leaks(key, folder.path, {**folder.outputs, "traces": traces})
        assert found == [], f"agent {agent}'s key leaked: {found}"


def assert_only_to_its_own_endpoint(folder: Folder) -> None:
    assert folder.proxy.requests == []  # loopback endpoints are called directly, never through a proxy
    for agent, server in folder.servers.items():
        assert server.requests, f"endpoint of {agent} got no request"
        for request in server.requests:
            assert request.headers.get("authorization") == f"Bearer {folder.keys[agent]}", request.path
        sent = json.dumps([(dict(r.headers), r.path, r.body) for r in server.requests])
        assert folder.keys[agent] not in sent.replace(f"Bearer {folder.keys[agent]}", "")  # only in its header
        for other, key in folder.keys.items():
            if other != agent:
                assert leaks(key, None, {f"requests to {agent}": sent}) == []


def test_a_planted_key_is_nowhere_after_an_ask_and_an_evaluation(tmp_path: Path) -> None:
    with working_folder(tmp_path) as folder:
        asked = folder.orch(*ASK)
        assert asked.returncode == 0, asked.stderr[-3000:]
        evaluated = folder.orch(*EVAL, "--systems", "single:*,vote,orch", "--concurrency", "3")
        assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "Traceback" not in asked.stderr + evaluated.stderr
    written = {str(p.relative_to(folder.path)) for p in folder.path.rglob("*") if p.is_file()}
    assert {"mlflow.db", ".orch/calls.sqlite", ".orch/evals.sqlite"} <= written, sorted(written)
    assert any(name.startswith("mlruns/") for name in written), sorted(written)  # the artifacts were swept
    count, _ = traces_json(folder.store)
    assert count == 1 + 4 * len(ITEMS)  # the ask's item, then every item of single:a, single:b, vote, orch
    assert_only_to_its_own_endpoint(folder)
    assert_nowhere(folder)


def test_a_key_echoed_in_an_error_fails_the_run_cleanly_and_is_stored_nowhere(tmp_path: Path) -> None:
    """The endpoints take the key for `/models` (preflight passes) but every chat call fails with a
    body repeating `Bearer <key>`: a 401 at a's endpoint (never retried), a 500 at b's (retried once,
    so the reason of an attempt before the last must not slip out either). Each item fails with its
    reason, shown and stored, and no reason shows the key."""
    with working_folder(tmp_path, echo={"a": 401, "b": 500}, retries=1) as folder:
        asked = folder.orch(*ASK)
        evaluated = folder.orch(*EVAL, "--systems", "single:b,orch-merge")
    for done in (asked, evaluated):
        assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
        assert "Traceback" not in done.stderr, done.stderr[-3000:]
    for agent, server in folder.servers.items():
        assert server.hits("/v1/chat/completions") > 0, agent  # the echoing endpoints were really called
    bodies = Counter(json.dumps(r.body, sort_keys=True) for r in folder.servers["b"].requests if r.body)
    assert max(bodies.values()) == 2  # b's 500s were retried
    assert_only_to_its_own_endpoint(folder)
    assert_nowhere(folder)
    assert "invalid credentials: Bearer ***" in asked.stdout  # the reason is shown, redacted
    with sqlite3.connect(folder.path / ".orch" / "evals.sqlite") as db:
        reasons = [json.loads(r) for (r,) in db.execute("SELECT reasons FROM failures")]
    assert len(reasons) == 2 * len(ITEMS) and all("Bearer ***" in " ".join(r) for r in reasons), reasons


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(planted, id="sk-dashed"),
        pytest.param(lambda: "k" + uuid.uuid4().hex[:31], id="hex-a-legal-variable-name"),
        pytest.param(lambda: "gsk_" + uuid.uuid4().hex + uuid.uuid4().hex[:20].upper(), id="underscored"),
    ],
)
def test_a_key_pasted_into_api_key_env_is_echoed_nowhere(tmp_path: Path, shape) -> None:
    """`api_key_env: <the key itself>`: one line naming the field, exit 2, and the value in no output
    or file. Keys made only of letters and digits are legal variable names, so the name's shape
    alone does not give them away."""
    key = shape()
    pool = f"agents:\n  - {{id: a, model: m-a, base_url: 'http://127.0.0.1:9/v1', api_key_env: '{key}'}}\n"
    with working_folder(tmp_path, pool=pool) as folder:
        folder.keys = {"pasted": key}
        runs = [folder.orch(*ASK, "--graph", "single"), folder.orch(*EVAL, "--systems", "single:a")]
    for done in runs:
        assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
        [line] = done.stderr.strip().splitlines()
        assert line.startswith("orch: error: ") and "api_key_env" in line, line
    found = leaks(key, folder.path, folder.outputs)
    assert [hit for hit in found if not hit.startswith("pool.yaml:")] == [], found  # only where the user put it
    assert not (folder.path / "mlflow.db").exists() and not (folder.path / ".orch").exists()


@pytest.mark.parametrize(
    "key",
    [
        "kea5f90e6c13d48c2836895501dad571",  # 32 hex digits (Azure OpenAI's shape)
        "AKIA0123456789ABCDEF",
        "gsk_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9fG1hJ3kL5",  # Groq
        "hf_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z",  # Hugging Face
        "sk_live_51HabcdefGHIJKLmnopQRstuv",
        "sk-proj-abc123DEF456",
    ],
)
def test_a_key_shaped_value_in_api_key_env_is_refused_unshown(tmp_path: Path, key: str) -> None:
    from orch.config import load_pool_config
    from orch.errors import ConfigError

    path = tmp_path / "pool.yaml"
    path.write_text(f"agents: [{{id: a, model: m, base_url: 'http://h/v1', api_key_env: '{key}'}}]\n")
    with pytest.raises(ConfigError) as raised:
        load_pool_config(path)
    assert "api_key_env: must name an environment variable (it looks like a key itself" in str(raised.value)
    assert key not in str(raised.value) and key not in repr(raised.value.__cause__)


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "AZURE_OPENAI_API_KEY_2024", "HF_TOKEN", "_K1", "MYPROVIDERAPIKEY"])
def test_variable_names_are_still_names(tmp_path: Path, name: str) -> None:
    from orch.config import load_pool_config

    path = tmp_path / "pool.yaml"
    path.write_text(f"agents: [{{id: a, model: m, base_url: 'http://h/v1', api_key_env: {name}}}]\n")
    assert load_pool_config(path)[0].agents[0].api_key_env == name
