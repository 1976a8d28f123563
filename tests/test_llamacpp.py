"""Managed llama.cpp servers: start-up checks, clean stop, and no orphan when the parent dies.

Tests marked `llamacpp` start real servers on the smallest catalog model (smollm2-135m, ~1 s) from
the real models dir; they skip when it is not installed (`orch models pull smollm2-135m`).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orch.backends._llamacpp_worker import wants_jinja
from orch.backends.catalog import is_installed, model_file
from orch.backends.llamacpp import LocalServer, LocalServers
from orch.errors import BackendError, ConfigError

SMOL = "smollm2-135m"


def _gone(pid: int) -> bool:
    """True once `pid` is dead; a zombie nobody reaps (containers without init) counts as dead."""
    if Path("/proc/self/stat").exists():
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in {"Z", "X"}
        except FileNotFoundError:
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return _gone(pid)


@pytest.fixture
def smol_gguf() -> Path:
    if not is_installed(SMOL):
        pytest.skip(f"{SMOL} is not installed in {model_file(SMOL).parent}; run `orch models pull {SMOL}`")
    return model_file(SMOL)


@pytest.fixture
def garbage_gguf(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.gguf"
    path.write_bytes(b"this is not a GGUF file\n" * 10)
    return path


@pytest.fixture
def smol_server(smol_gguf: Path, tmp_path: Path) -> Iterator[LocalServer]:
    server = LocalServer(smol_gguf, SMOL, threads=2, ctx=2048, log_dir=tmp_path, startup_timeout_s=60)
    try:
        yield server
    finally:
        server.stop()


def test_builtin_template_names_are_not_jinja() -> None:
    assert not wants_jinja("gemma")
    assert not wants_jinja("chatml")
    assert wants_jinja("{% for m in messages %}{{ m.content }}{% endfor %}")


def test_not_started_server_has_no_url_and_stop_is_a_no_op(tmp_path: Path) -> None:
    server = LocalServer(tmp_path / "x.gguf", "x", log_dir=tmp_path)
    with pytest.raises(BackendError, match="'x' is not running; call start"):
        _ = server.base_url
    server.stop()
    server.stop()
    assert server.pid is None and server.log_path is None and not server.running


def test_from_local_reports_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match=r"model 'gemma3-270m' is not installed; run `orch models pull"):
        LocalServer.from_local("gemma3-270m")


@pytest.mark.llamacpp
def test_unloadable_model_fails_with_log_tail(garbage_gguf: Path, tmp_path: Path) -> None:
    """A real worker that cannot load its file: the error quotes llama.cpp's log and names it."""
    server = LocalServer(garbage_gguf, "broken", log_dir=tmp_path / "logs", startup_timeout_s=60)
    with pytest.raises(BackendError) as info:
        server.start()
    message = str(info.value)
    assert "llama.cpp server 'broken'" in message
    assert "failed to load: RuntimeError" in message and "(exit code 1)" in message
    assert "invalid magic characters" in message  # llama.cpp's own reason, from the log tail
    assert server.log_path is not None and str(server.log_path) in message
    assert server.log_path.name == f"broken-{server.pid}.log"
    assert server.pid is not None and _wait_gone(server.pid, 5)
    assert not server.running


@pytest.mark.llamacpp
def test_chat_completion_and_stop(smol_server: LocalServer) -> None:
    t0 = time.monotonic()
    base_url = smol_server.start()
    startup = time.monotonic() - t0
    assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
    assert smol_server.start() == base_url  # idempotent while running
    assert smol_server.log_path is not None and smol_server.log_path.is_file()
    print(f"{SMOL} start-up: {startup:.2f} s")

    with httpx.Client(base_url=base_url, timeout=60, trust_env=False) as client:
        models = client.get("/models").json()
        assert SMOL in [m["id"] for m in models["data"]]
        r = client.post(
            "/chat/completions",
            json={
                "model": "ignored-by-llama.cpp",
                "messages": [{"role": "user", "content": "Name one colour."}],
                "max_tokens": 12,
                "temperature": 0,
                "seed": 1234,
            },
        )
        r.raise_for_status()
        body = r.json()
    assert body["choices"][0]["message"]["content"].strip()
    assert body["usage"]["completion_tokens"] > 0

    pid = smol_server.pid
    assert pid is not None and not _gone(pid)
    smol_server.stop()
    assert _wait_gone(pid, 5)
    assert not smol_server.running
    smol_server.stop()  # idempotent


@pytest.mark.llamacpp
def test_sigkilled_parent_leaves_no_orphan(smol_gguf: Path, tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from orch.backends.llamacpp import LocalServer
        s = LocalServer(Path(sys.argv[1]), "orphan-check", log_dir=Path(sys.argv[2]), startup_timeout_s=60)
        s.start()
        print(s.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(smol_gguf), str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    child: int | None = None
    try:
        assert parent.stdout is not None
        ready, _, _ = select.select([parent.stdout], [], [], 90)
        assert ready, "the parent never reported its server's pid"
        child = int(parent.stdout.readline())
        assert not _gone(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert _wait_gone(child, 10), f"worker {child} outlived its SIGKILLed parent"
    finally:
        parent.kill()
        parent.wait()
        if child is not None and not _gone(child):
            os.kill(child, signal.SIGKILL)


@pytest.mark.llamacpp
def test_server_outlives_the_thread_that_started_it(smol_server: LocalServer) -> None:
    """The parent-death signal is per thread; a server started in a retiring thread must survive."""
    thread = threading.Thread(target=smol_server.start)
    thread.start()
    thread.join(90)
    assert smol_server.running
    time.sleep(1.0)
    assert smol_server.running
    assert httpx.get(smol_server.base_url.removesuffix("/v1") + "/health", trust_env=False).json() == {"status": "ok"}


@pytest.mark.llamacpp
def test_start_all_serves_each_alias_on_its_own_port(smol_gguf: Path, tmp_path: Path) -> None:
    servers = LocalServers(
        LocalServer(smol_gguf, alias, log_dir=tmp_path, startup_timeout_s=60) for alias in ("smol-a", "smol-b")
    )
    with servers:
        urls = servers.base_urls
        assert set(urls) == {"smol-a", "smol-b"} and len(set(urls.values())) == 2
        for alias, url in urls.items():
            ids = [m["id"] for m in httpx.get(f"{url}/models", trust_env=False).json()["data"]]
            assert ids == [alias]
        pids = [s.pid for s in servers]
    assert all(pid is not None and _wait_gone(pid, 5) for pid in pids)


@pytest.mark.llamacpp
def test_start_all_failure_stops_the_others(smol_gguf: Path, garbage_gguf: Path, tmp_path: Path) -> None:
    good = LocalServer(smol_gguf, "good", log_dir=tmp_path, startup_timeout_s=60)
    bad = LocalServer(garbage_gguf, "bad", log_dir=tmp_path, startup_timeout_s=60)
    with pytest.raises(BackendError, match=r"'bad'.*failed to load"):
        LocalServers([good, bad]).start_all()
    assert good.pid is not None and _wait_gone(good.pid, 5)
    assert not good.running and not bad.running


@pytest.mark.llamacpp
def test_unknown_template_name_fails_at_start_up(smol_server: LocalServer) -> None:
    smol_server.chat_template = "no-such-template"
    with pytest.raises(BackendError, match=r"chat template 'no-such-template' does not render messages"):
        smol_server.start()
    assert smol_server.pid is not None and _wait_gone(smol_server.pid, 5)


@pytest.mark.llamacpp
def test_gemma_gets_the_builtin_gemma_template(tmp_path: Path) -> None:
    if not is_installed("gemma3-270m"):
        pytest.skip("gemma3-270m is not installed; run `orch models pull gemma3-270m`")
    with LocalServer.from_local("gemma3-270m", log_dir=tmp_path, startup_timeout_s=60) as server:
        root = server.base_url.removesuffix("/v1")
        r = httpx.post(
            f"{root}/apply-template",
            json={"messages": [{"role": "user", "content": "Hi"}]},
            trust_env=False,
        )
    assert r.json()["prompt"].startswith("<start_of_turn>user\nHi<end_of_turn>")
