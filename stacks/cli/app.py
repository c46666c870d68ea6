"""The `mlenv` command: plan and check ML environments offline, manage experiments and images.

Exit codes: 0 ok; 1 internal error (or, for `check`, a mandatory policy violation);
2 bad input (unknown stack, invalid stack file, unreadable plan file ...).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from images.errors import ImagesError
from stacks.cli.check import CHECK_EPILOG
from stacks.cli.check import check as check_command
from stacks.cli.exp import exp_app
from stacks.cli.images import images_app
from stacks.errors import EXIT_INTERNAL, MlenvError
from stacks.offline.plan import UNKNOWN, Plan

GENERATED_FILES = {"feature_store_yaml": "feature_store.yaml"}
"""Stack outputs that are whole files, and the name `mlenv plan --out-dir` writes each to."""

USER_ERRORS: tuple[type[Exception], ...] = (MlenvError, ImagesError)
"""Each package's error hierarchy: a user-actionable message and an ``exit_code``."""

P = ParamSpec("P")
R = TypeVar("R")

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 internal error (for check: a mandatory policy violation); "
    "2 bad input (unknown stack, invalid stack file or plan file)."
)

app = typer.Typer(
    name="mlenv",
    help="ML environments as code on Pulumi: plan and policy-check stacks offline, run experiments. "
    + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)
app.add_typer(images_app, name="images")
# `mlenv exp` (stacks/cli/exp.py) reports errors itself, with the same USER_ERRORS and exit codes.
app.add_typer(exp_app, name="exp")


@app.callback()
def root() -> None:
    """ML environments as code on Pulumi: plan and policy-check stacks offline, run experiments."""


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn mlenv errors into one clear message and their exit code; never show a traceback
    unless MLENV_DEBUG is set."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except USER_ERRORS as exc:
            err.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(getattr(exc, "exit_code", EXIT_INTERNAL)) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("MLENV_DEBUG"):
                raise
            err.print(
                f"[bold red]internal error:[/bold red] {type(exc).__name__}: {escape(str(exc))}\n"
                "This is a bug in mlenv; rerun with MLENV_DEBUG=1 for the traceback and report it.",
                soft_wrap=True,
            )
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper


@app.command()
@reports_errors
def plan(
    stack: Annotated[str, typer.Argument(help="Stack name: stacks/Pulumi.<STACK>.yaml")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the plan as JSON (resources, invokes, outputs).")
    ] = False,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Also write the JSON plan to this file (for `mlenv check --plan`)."),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out-dir", help="Write generated files (feature_store.yaml) into this directory."),
    ] = None,
) -> None:
    """Run the stack's real Pulumi program offline and show what `pulumi up` would create."""
    from stacks.cli.plan_render import print_plan
    from stacks.offline.engine import plan_stack

    result = plan_stack(stack)
    if out_file is not None:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(result.to_json() + "\n", encoding="utf-8")
    written = write_generated_files(result, out_dir) if out_dir is not None else []
    if as_json:
        sys.stdout.write(result.to_json() + "\n")
    else:
        print_plan(result, out)
        if out_file is not None:
            out.print(f"plan written to {out_file}")
        for path in written:
            out.print(f"wrote {path}")


def write_generated_files(result: Plan, out_dir: Path) -> list[Path]:
    """Write the files a plan renders (stack outputs named in GENERATED_FILES) that are known offline."""
    from stacks.offline.plan import is_secret

    written: list[Path] = []
    for output, filename in GENERATED_FILES.items():
        value = result.outputs.get(output)
        if isinstance(value, str) and not is_secret(value) and value != UNKNOWN:
            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / filename
            path.write_text(value, encoding="utf-8")
            written.append(path)
    return written


# `mlenv check` lives in stacks/cli/check.py; its PolicyRunError hierarchy is MlenvError (USER_ERRORS).
app.command(name="check", epilog=CHECK_EPILOG)(reports_errors(check_command))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
