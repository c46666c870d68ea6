"""How every `mlenv` command reports failure: one place that maps errors to exit codes.

Every error a user can see derives from ``stacks.errors.MlenvError`` and carries its own
``exit_code`` (0 ok, 1 environment or internal problem, 2 bad input, 3 conflict). AWS client errors
that escape a package are environment problems (1). Anything else is a bug in mlenv: one line that
says so, exit 1, and the traceback only with ``MLENV_DEBUG=1``. A traceback never reaches a user.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from typer.core import TyperGroup

from stacks.errors import CREDENTIALS_HELP, EXIT_INTERNAL, MlenvError

P = ParamSpec("P")
R = TypeVar("R")


PIPE_WIDTH = 10_000
"""Width given to a console that is not a terminal: wide enough that rich never wraps a line, so a
pipe or a file gets one logical line per line (grep-able), as ruff and cargo print into pipes."""


def _console(*, stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        # A terminal: rich wraps at its width, between words (a token longer than a line is the only
        # thing it folds).
        return Console(stderr=stderr, highlight=False, soft_wrap=False)
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=PIPE_WIDTH)


class Consoles:
    """stdout and stderr consoles, re-made per invocation so the terminal width is read when it runs."""

    def __init__(self) -> None:
        self.quiet = False
        self.reset()

    def reset(self, *, quiet: bool = False) -> None:
        """New consoles for the current streams: word-wrapped at a terminal's width, unwrapped in a pipe."""
        self.quiet = quiet
        self.out = _console(stderr=False)
        self.err = _console(stderr=True)

    def progress(self, message: str) -> AbstractContextManager[object]:
        """A spinner on stderr while something slow runs; nothing with --quiet or when stderr is a pipe."""
        if self.quiet or not self.err.is_terminal:
            return nullcontext()
        return self.err.status(message, spinner="dots")


consoles = Consoles()
"""The consoles every command prints through."""


def command_group(name: str | None, help_text: str, cls: type[TyperGroup] | None = None) -> typer.Typer:
    """A typer app (the root or a command group) set up like every other mlenv command."""
    return typer.Typer(
        name=name,
        cls=cls,
        help=help_text,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )


@contextmanager
def reported() -> Iterator[None]:
    """Turn every failure into one message on stderr and its exit code."""
    try:
        yield
    except MlenvError as exc:
        consoles.err.print(f"error: {exc}", markup=False)
        raise typer.Exit(exc.exit_code) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:
        aws = _aws_error_message(exc)
        if aws is not None:
            consoles.err.print(f"error: {aws}", markup=False)
            raise typer.Exit(EXIT_INTERNAL) from None
        if os.environ.get("MLENV_DEBUG"):
            raise
        consoles.err.print(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in mlenv; rerun with MLENV_DEBUG=1 for the traceback and report it.",
            markup=False,
        )
        raise typer.Exit(EXIT_INTERNAL) from None


def _aws_error_message(exc: Exception) -> str | None:
    """What to say of a boto3/botocore failure; None for anything else. botocore is looked up,
    not imported: a command that never imported it (plan, check) cannot have raised its errors,
    and importing it costs every command ~0.1 s of start-up."""
    exceptions = sys.modules.get("botocore.exceptions")
    if exceptions is None:
        return None
    if isinstance(exc, exceptions.NoCredentialsError):
        return CREDENTIALS_HELP
    if isinstance(exc, exceptions.BotoCoreError | exceptions.ClientError):
        return f"AWS call failed: {exc}"
    return None


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command so that its failures are ``reported()``."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with reported():
            return command(*args, **kwargs)

    return wrapper
