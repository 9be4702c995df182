"""``quantdesk``: the command-line entry point."""

from __future__ import annotations

import typer

from quantdesk.cli.backtest import backtest
from quantdesk.cli.daemon import restart, status, stop
from quantdesk.cli.data import data_app
from quantdesk.cli.indexes import register as register_index_commands
from quantdesk.cli.serve import serve

app = typer.Typer(
    name="quantdesk",
    help="quantdesk: backtest quant strategies on real market data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("backtest")(backtest)
app.command("serve")(serve)
app.command("stop")(stop)
app.command("status")(status)
app.command("restart")(restart)
register_index_commands(data_app)
app.add_typer(data_app, name="data")


if __name__ == "__main__":  # pragma: no cover
    app()
