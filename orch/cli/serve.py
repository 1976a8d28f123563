"""`orch serve`: graphs as models of an OpenAI-compatible endpoint, agents started once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orch.cli.options import RouterOpt

__all__ = ["serve"]


def serve(
    graph: Annotated[
        list[str] | None,
        typer.Option("--graph", "-g", help="A graph to serve, its name the model id (repeat for more). Default: orch."),
    ] = None,
    pool: Annotated[
        Path | None,
        typer.Option(
            "--pool", "--config", "-c", envvar="ORCH_CONFIG", help="Pool config YAML. Default: the embedded local pool."
        ),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on; off loopback a key is required.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0: any free one).")] = 8080,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="ORCH_SERVE_API_KEY",
            show_envvar=True,
            help="The key clients must send (Authorization: Bearer KEY); required off loopback.",
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Items in flight at once; more requests wait their turn.")
    ] = 8,
    router: RouterOpt = "default",
    no_tracking: Annotated[
        bool,
        typer.Option("--no-tracking", help="No MLflow run per request (default: one each, experiment orch-serve)."),
    ] = False,
) -> None:
    """Answer `POST /v1/chat/completions` with a graph (and list the graphs at `GET /v1/models`)."""
    import orch
    from orch.serve.server import bind, check_bind
    from orch.serve.server import serve as run_server

    check_bind(host, api_key)
    sock = bind(host, port)
    graphs = graph or ["orch"]
    try:
        with orch.answering(graphs, pool=pool, router=router, track=not no_tracking, concurrency=concurrency) as ready:
            address = sock.getsockname()
            url = f"http://{host if ':' not in host else f'[{host}]'}:{address[1]}/v1"

            def announce() -> None:
                print(f"orch serve: {', '.join(ready)} at {url} — Ctrl-C stops", flush=True)

            run_server(ready, sock, api_key=api_key or None, on_ready=announce)
    except KeyboardInterrupt:
        print("orch serve: stopped", flush=True)
    finally:
        sock.close()
