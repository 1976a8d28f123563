"""The `orch` command line: thin commands over the same Python API users import."""

from __future__ import annotations

import signal
import sys

import typer

from orch.cli.ask import ask
from orch.cli.eval import eval_app
from orch.cli.graph import graph_app
from orch.cli.models import models_app
from orch.cli.profile import profile_app
from orch.cli.router import feedback, router_app
from orch.cli.run import run
from orch.cli.serve import serve
from orch.cli.ui import ui
from orch.errors import OrchError

__all__ = ["app", "main"]

app = typer.Typer(
    help="orch — many analyses, one merge: discrete-choice answers from a team of LLMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(ask)
app.command()(run)
app.command()(serve)
app.command()(ui)
app.add_typer(eval_app, name="eval")
app.command()(feedback)
app.add_typer(graph_app, name="graph")
app.add_typer(models_app, name="models")
app.add_typer(profile_app, name="profile")
app.add_typer(router_app, name="router")


def _stop(signum: int, frame: object) -> None:
    """The first SIGTERM stops the command; later ones are ignored so they cannot break its clean-up
    (`pkill -f` on `uv run orch …` signals both uv, which forwards it, and orch)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main() -> None:
    """Entry point: a user's mistake (`OrchError`) is one line on stderr and exit code 2.

    `kill` (SIGTERM) stops a command as Ctrl-C does: results so far are kept, servers stop, the
    MLflow runs end KILLED and the same command resumes; either way the last line says so (exit 130).
    """
    signal.signal(signal.SIGTERM, _stop)
    try:
        app()
    except OrchError as exc:
        print(f"orch: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except SystemExit as exc:
        if exc.code == 130:  # Typer's exit for KeyboardInterrupt
            print(
                "orch: interrupted; finished results are kept — run the same command again to resume", file=sys.stderr
            )
        raise
