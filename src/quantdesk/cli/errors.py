"""How the CLI reports expected errors: a clear message on stderr and a non-zero exit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from quantdesk.core.errors import QuantdeskError, StrategyError

#: Exit codes: 1 = the strategy failed, 2 = bad input / data.
EXIT_STRATEGY = 1
EXIT_INPUT = 2

stderr = Console(stderr=True, highlight=False)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn ``QuantdeskError`` into ``error: ...`` on stderr and ``typer.Exit``."""
    try:
        yield
    except StrategyError as exc:
        if exc.user_traceback:
            stderr.print(exc.user_traceback.rstrip(), markup=False)
        stderr.print(f"[bold red]error[/] ({exc.code}): {exc.message}", soft_wrap=True)
        raise typer.Exit(EXIT_STRATEGY) from None
    except QuantdeskError as exc:
        stderr.print(f"[bold red]error[/] ({exc.code}): {exc.message}", soft_wrap=True)
        raise typer.Exit(EXIT_INPUT) from None
