"""How every `mlenv` command reports failure: one place that maps errors to exit codes.

Every error a user can see derives from ``stacks.errors.MlenvError`` and carries its own
``exit_code`` (0 ok, 1 environment or internal problem, 2 bad input, 3 conflict). AWS client errors
that escape a package are environment problems (1). Anything else is a bug in mlenv: one line that
says so, exit 1, and the traceback only with ``MLENV_DEBUG=1``. A traceback never reaches a user.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from stacks.errors import EXIT_INTERNAL, MlenvError

P = ParamSpec("P")
R = TypeVar("R")


class Consoles:
    """stdout and stderr consoles, re-made per invocation so the terminal width is read when it runs."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """New consoles for the current terminal (width from COLUMNS or the tty)."""
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)


consoles = Consoles()
"""The consoles every command prints through."""


def command_group(name: str | None, help_text: str) -> typer.Typer:
    """A typer app (the root or a command group) set up like every other mlenv command."""
    return typer.Typer(
        name=name,
        help=help_text,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )


@contextmanager
def reported() -> Iterator[None]:
    """Turn every failure into one message on stderr and its exit code."""
    try:
        yield
    except MlenvError as exc:
        consoles.err.print(f"error: {exc}", markup=False)
        raise typer.Exit(exc.exit_code) from None
    except (BotoCoreError, ClientError) as exc:
        consoles.err.print(f"error: AWS call failed: {exc}", markup=False)
        raise typer.Exit(EXIT_INTERNAL) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:
        if os.environ.get("MLENV_DEBUG"):
            raise
        consoles.err.print(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in mlenv; rerun with MLENV_DEBUG=1 for the traceback and report it.",
            markup=False,
        )
        raise typer.Exit(EXIT_INTERNAL) from None


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command so that its failures are ``reported()``."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with reported():
            return command(*args, **kwargs)

    return wrapper
