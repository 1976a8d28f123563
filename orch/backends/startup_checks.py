"""Start-up checks of a llama.cpp server: healthy over HTTP, serving the expected alias, rendering its
chat template; and the lines of its log that say why when it is not.

llama.cpp ignores a request's `model` field and answers with whatever it loaded, so a misrouted URL
must fail here, not as silently wrong answers. Each check returns why the server is unusable, or
None, and the caller stops the child and raises.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import httpx

__all__ = ["http_failure", "log_tail"]

_LOG_TAIL_LINES = 6
_TEMPLATE_PROBE = "orch-template-probe-7c1e"
_LLAMA_ERROR_LINE = re.compile(r"^\d+\.\d+\.\d+\.\d+ E ")  # e.g. `0.00.003.940 E cmn  common_init_: ...`


def log_tail(log_path: Path | None) -> str:
    """llama.cpp's error lines if it logged any (they say why), else the last lines."""
    if log_path is None:
        return "(no log)"
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        return f"(log unreadable: {exc})"
    lines = [line.strip()[:240] for line in lines if line.strip()]
    errors = [line for line in lines if _LLAMA_ERROR_LINE.match(line)]
    tail = (errors or lines)[-_LOG_TAIL_LINES:]
    return " | ".join(tail) or "(empty)"


def http_failure(
    proc: subprocess.Popen[bytes], address: str, alias: str, chat_template: str | None, deadline: float
) -> str | None:
    """Why the server at `address` is unusable, or None once it is healthy, serves `alias` and renders
    `chat_template` (None: the GGUF's own)."""
    # trust_env=False: an HTTP(S)_PROXY without 127.0.0.1 in NO_PROXY must not swallow local calls.
    with httpx.Client(base_url=address, timeout=10.0, trust_env=False) as client:
        return (
            _health_failure(client, proc, address, deadline)
            or _alias_failure(client, address, alias)
            or _template_failure(client, address, chat_template)
        )


def _health_failure(client: httpx.Client, proc: subprocess.Popen[bytes], address: str, deadline: float) -> str | None:
    """Poll `/health` until it says ok, the child exits or the deadline passes."""
    last = "no answer"
    while True:
        try:
            r = client.get("/health")
            if r.status_code == 200 and r.json().get("status") == "ok":
                return None
            last = f"HTTP {r.status_code} {r.text[:200]}"
        except (httpx.HTTPError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        if proc.poll() is not None:
            return "exited during start-up"
        if time.monotonic() > deadline:
            return f"never reported healthy at {address}/health (last: {last})"
        time.sleep(0.1)


def _alias_failure(client: httpx.Client, address: str, alias: str) -> str | None:
    """`/v1/models` must list `alias`: otherwise this port serves some other model."""
    try:
        r = client.get("/v1/models")
        r.raise_for_status()
        served = {
            name for entry in r.json().get("data", []) for name in (entry.get("id"), *entry.get("aliases", [])) if name
        }
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        return f"answered /v1/models badly at {address}: {exc}"
    if alias not in served:
        return f"at {address} serves {sorted(served)}, not {alias!r}"
    return None


def _template_failure(client: httpx.Client, address: str, chat_template: str | None) -> str | None:
    """Render a probe message through the chat template."""
    # A bad template name only fails per request (HTTP 500), and a built-in name given as
    # Jinja renders every prompt as that word: render a probe now rather than later.
    try:
        r = client.post("/apply-template", json={"messages": [{"role": "user", "content": _TEMPLATE_PROBE}]})
        prompt = r.json().get("prompt", "") if r.status_code == 200 else ""
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        return f"could not render its chat template at {address}: {exc}"
    if _TEMPLATE_PROBE not in prompt:
        return (
            f"chat template {chat_template or '(from the GGUF)'!r} does not render messages "
            f"(HTTP {r.status_code}: {r.text[:200]})"
        )
    return None
