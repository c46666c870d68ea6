"""The `mlenv` command: plan and check ML environments offline, manage experiments and images.

Exit codes: 0 ok; 1 internal error (or, for `check`, a mandatory policy violation);
2 bad input (unknown stack, invalid stack file, unreadable plan file ...).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Annotated, Any, ClassVar

import typer
from rich.console import Console
from typer.core import TyperGroup

from stacks.cli.check import CHECK_EPILOG
from stacks.cli.check import check as check_command
from stacks.cli.drift import DRIFT_EPILOG
from stacks.cli.drift import drift as drift_command
from stacks.cli.errors import command_group, consoles, reported, reports_errors
from stacks.errors import EXIT_BAD_INPUT, MlenvError
from stacks.offline.plan import UNKNOWN, Plan

GENERATED_FILES = {"feature_store_yaml": "feature_store.yaml"}
"""Stack outputs that are whole files, and the name `mlenv plan --out-dir` writes each to."""

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 internal error (for check: a mandatory policy violation); "
    "2 bad input (unknown stack, invalid stack file or plan file)."
)


class CommandsImportedWhenRun(TyperGroup):
    """The root group: `images` and `exp` (boto3, the experiment lifecycle, Packer and Jinja
    templates) are imported only when one of them is asked for, so `plan` and `check` do not pay
    for them at start-up (benchmarks/README.md has the figures). The context and command types
    are click's, which recent typer releases vendor as ``typer._click`` (private), hence ``Any``."""

    LAZY: ClassVar[dict[str, tuple[str, str]]] = {
        "images": ("stacks.cli.images", "images_app"),
        "exp": ("stacks.cli.exp", "exp_app"),
    }

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *self.LAZY]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.LAZY:
            return super().get_command(ctx, cmd_name)
        module, attribute = self.LAZY[cmd_name]
        group = typer.main.get_command(getattr(importlib.import_module(module), attribute))
        group.name = cmd_name
        return group


app = command_group(
    "mlenv",
    "ML environments as code on Pulumi: plan and policy-check stacks offline, run experiments. "
    + EXIT_CODES_HELP,
    cls=CommandsImportedWhenRun,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("mlenv")
        except PackageNotFoundError:
            installed = "unknown (not installed)"
        sys.stdout.write(f"mlenv {installed}\n")
        raise typer.Exit(0)


@app.callback()
def root(
    cwd: Annotated[
        Path | None,
        typer.Option(
            "--cwd",
            "-C",
            metavar="DIR",
            help="Run as if mlenv had been started in DIR (as `pulumi --cwd`): the Pulumi project is "
            "found there or above.",
            file_okay=False,
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress spinner on stderr.", show_default=False)
    ] = False,
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print mlenv's version and exit.",
            callback=_print_version,
            is_eager=True,
            show_default=False,
        ),
    ] = False,
) -> None:
    """ML environments as code on Pulumi: plan and policy-check stacks offline, run experiments."""
    if cwd is not None:
        with reported():
            _change_directory(cwd)
    consoles.reset(quiet=quiet)


def _change_directory(directory: Path) -> None:
    try:
        os.chdir(directory)
    except OSError as exc:
        raise CwdError(f"--cwd {directory}: cannot change into it ({exc.strerror})") from None


class CwdError(MlenvError):
    """``--cwd`` names a directory mlenv cannot enter."""

    exit_code = EXIT_BAD_INPUT


@app.command()
@reports_errors
def plan(
    stack: Annotated[
        str,
        typer.Argument(
            metavar="STACK",
            help="Stack name: Pulumi.<STACK>.yaml in the project's stackConfigDir.",
            show_default=False,
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the plan as JSON (resources, invokes, outputs).")
    ] = False,
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="FILE", help="Also write the JSON plan to this file (for `mlenv check --plan`)."
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir", metavar="DIR", help="Write generated files (feature_store.yaml) into this directory."
        ),
    ] = None,
    against: Annotated[
        Path | None,
        typer.Option(
            "--against",
            help="A plan saved earlier (--out): say which GPU pools' nodes will roll to a new image, "
            "and under which disruption budget.",
        ),
    ] = None,
) -> None:
    """Run the stack's real Pulumi program offline and show what `pulumi up` would create."""
    from stacks.cli.output_guard import refuse_to_overwrite_inputs
    from stacks.cli.plan_render import print_plan
    from stacks.offline.engine import plan_stack

    if out_file is not None:
        refuse_to_overwrite_inputs(out_file, option="--out")
    previous = Plan.load(against) if against is not None else None  # a bad file fails before planning
    with consoles.progress(f"planning stack {stack} offline (running the Pulumi program) ..."):
        result = plan_stack(stack)
    if out_file is not None:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(result.to_json() + "\n", encoding="utf-8")
    written = write_generated_files(result, out_dir) if out_dir is not None else []
    if as_json:
        sys.stdout.write(result.to_json() + "\n")
    else:
        print_plan(result, consoles.out, generated=GENERATED_FILES)
        if out_file is not None:
            consoles.out.print(f"plan written to {out_file}")
        for path in written:
            consoles.out.print(f"wrote {path}")
    if previous is not None:
        print_rollouts(previous, result, against, consoles.err if as_json else consoles.out)


def print_rollouts(previous: Plan, result: Plan, source: Path | None, console: Console) -> None:
    """The GPU pools whose nodes an apply of ``result`` would replace, compared with ``previous``."""
    from stacks.offline.rollout import describe, rollouts

    found = rollouts(previous, result)
    console.print(f"GPU node rollouts against {source}: {len(found) or 'none'}")
    for rollout in found:
        console.print(f"  {describe(rollout)}")


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


# `mlenv check` lives in stacks/cli/check.py.
app.command(name="check", epilog=CHECK_EPILOG)(reports_errors(check_command))
# `mlenv drift` lives in stacks/cli/drift.py.
app.command(name="drift", epilog=DRIFT_EPILOG)(reports_errors(drift_command))


def main() -> None:
    """Console-script entry point: a one-shot process (stacks/cli/interpreter.py says why)."""
    from stacks.cli.interpreter import exit_code_of, leave, tune_for_one_shot

    # gRPC's own INFO lines (a pack's channel seeing the engine server stop: "Got goaway") are not
    # mlenv's to show; the pack processes inherit the setting. An explicit GRPC_VERBOSITY wins.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    tune_for_one_shot()
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exit_code_of(exc)
    # Every file is written and every pack process stopped by now; leaving through os._exit skips
    # the interpreter's teardown and final collection over the SDK's object graph (2.5-5 s after
    # check's verdict, issue 15), which a gc.freeze() here used to shorten.
    leave(code)


if __name__ == "__main__":
    main()
