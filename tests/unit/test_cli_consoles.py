"""How every command talks to a person: errors that say what to do, a spinner only at a terminal."""

from __future__ import annotations

import io
from contextlib import nullcontext

import pytest
import typer
from botocore.exceptions import NoCredentialsError
from rich.console import Console
from rich.status import Status

from stacks.check.formats.text import plural
from stacks.cli.errors import PIPE_WIDTH, consoles, reported
from stacks.errors import CREDENTIALS_HELP, EXIT_INTERNAL
from stacks.experiments.ledger import Ledger


def test_missing_credentials_say_how_to_provide_them(capsys: pytest.CaptureFixture[str]) -> None:
    consoles.reset()
    with pytest.raises(typer.Exit) as exit_info, reported():
        raise NoCredentialsError()
    assert exit_info.value.exit_code == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "AWS_PROFILE" in err and "AWS_ACCESS_KEY_ID" in err
    assert "Unable to locate credentials" not in err


def test_the_ledger_says_how_to_provide_credentials() -> None:
    error = Ledger(client=None, table="mlenv-prod-experiments")._ledger_error("scan", NoCredentialsError())
    assert str(error) == f"could not scan the ledger table 'mlenv-prod-experiments': {CREDENTIALS_HELP}"


def test_a_pipe_gets_unwrapped_lines_and_no_spinner() -> None:
    consoles.reset()  # under pytest, stdout and stderr are not terminals
    assert consoles.out.width == PIPE_WIDTH and not consoles.out.is_terminal
    assert isinstance(consoles.progress("planning"), nullcontext)


@pytest.mark.parametrize(("quiet", "spins"), [(False, True), (True, False)])
def test_a_terminal_gets_a_spinner_on_stderr_unless_quiet(quiet: bool, spins: bool) -> None:
    consoles.reset(quiet=quiet)
    consoles.err = Console(file=io.StringIO(), force_terminal=True, width=80)
    assert isinstance(consoles.progress("planning"), Status) is spins
    consoles.reset()


@pytest.mark.parametrize(
    ("count", "noun", "text"),
    [
        (0, "violation", "0 violations"),
        (1, "violation", "1 violation"),
        (2, "policy", "2 policies"),
        (1, "policy", "1 policy"),
        (3, "resource", "3 resources"),
    ],
)
def test_plurals(count: int, noun: str, text: str) -> None:
    assert plural(count, noun) == text
