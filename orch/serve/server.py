"""Running the app: the bind checked (a key required off loopback), the socket bound before anything
starts, uvicorn serving until Ctrl-C or `kill`."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from orch.errors import OrchError

if TYPE_CHECKING:
    import uvicorn

    from orch.app.answerer import Answerer

__all__ = ["bind", "check_bind", "is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def check_bind(host: str, api_key: str | None) -> None:
    """Refuse to listen beyond this machine without a key of the server's own.

    Raises:
        OrchError: `host` is not a loopback address and no key is set.
    """
    if not is_loopback(host) and not api_key:
        raise OrchError(
            f"--host {host} is reachable from other machines: set an API key for the server "
            "(--api-key KEY or ORCH_SERVE_API_KEY); clients send it as `Authorization: Bearer KEY`"
        )


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now, so a taken port is one line before any agent starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise OrchError(f"--host {host} --port {port}: cannot listen there: {exc.strerror or exc}") from None
    return sock


def _server(config: uvicorn.Config, on_ready: Callable[[], None]) -> uvicorn.Server:
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if not self.should_exit:
                on_ready()

    return Server(config)


def serve(
    answerers: Mapping[str, Answerer],
    sock: socket.socket,
    *,
    api_key: str | None,
    on_ready: Callable[[], None] = lambda: None,
) -> None:
    """Serve until Ctrl-C or SIGTERM (uvicorn lets the requests in flight finish, then re-raises the
    signal, as `KeyboardInterrupt` here)."""
    import uvicorn

    from orch.serve.app import build_app

    config = uvicorn.Config(build_app(answerers, api_key=api_key), log_level="warning", lifespan="off")
    _server(config, on_ready).run(sockets=[sock])
