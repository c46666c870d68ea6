"""`mlenv check`: the credential-free policy check of a stack (or a saved plan).

Plans the stack offline with the real program (``stacks.offline.engine.plan_stack``) or loads a plan
saved by ``mlenv plan --json/--out``, then runs the unmodified policy pack over it through the
Pulumi analyzer protocol (``stacks.check.runner``). Mounted on the ``mlenv`` app by ``stacks.cli.app``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from stacks.check.formats import Format
from stacks.cli.errors import consoles
from stacks.errors import EXIT_BAD_INPUT, MlenvError

CHECK_EPILOG = (
    "Exit codes: 0 no mandatory policy violation (advisory, waived and not-evaluated findings are "
    "reported but do not fail); 1 at least one mandatory violation; 2 bad input (unknown stack, "
    "invalid stack or plan file, bad policy config, or a policy pack that does not start or answer)."
)


class CheckUsageError(MlenvError):
    """`mlenv check` was given neither or both of STACK and --plan."""

    exit_code = EXIT_BAD_INPUT


@contextlib.contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """Turn SIGTERM (CI cancelling a job) into SystemExit, so pack processes are stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stack_file_for(stack: str) -> tuple[str | None, str | None]:
    """(project-relative stack file, project root) of a stack, when the project has its file."""
    from stacks.project import ProjectError, find_project

    try:
        project = find_project()
    except ProjectError:
        return None, None  # --plan FILE outside any project: findings name the stack, not a line
    path = project.stack_file(stack)
    return (project.relative(path), str(project.root)) if path.is_file() else (None, None)


def check(
    stack: Annotated[
        str | None,
        typer.Argument(
            metavar="STACK",
            help="Stack name: Pulumi.<STACK>.yaml in the project's stackConfigDir; planned offline.",
            show_default=False,
        ),
    ] = None,
    plan_file: Annotated[
        Path | None,
        typer.Option(
            "--plan", metavar="FILE", help="Check a plan saved by `mlenv plan STACK --json` / `--out FILE`."
        ),
    ] = None,
    fmt: Annotated[
        Format, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
    ] = Format.TEXT,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="FILE", help="Write the report to this file.")
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="Policy config (JSON or YAML), as `pulumi preview --policy-pack-config`: "
            '{"all": "advisory", "<policy>": {"enforcementLevel": ..., "<property>": ...}}.',
        ),
    ] = None,
    pack_dir: Annotated[
        Path | None,
        typer.Option("--pack", metavar="DIR", help="Policy pack directory (default: the mlenv pack)."),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            metavar="N",
            min=1,
            help="Pack processes sharing the Analyze calls (default: by plan size).",
        ),
    ] = None,
) -> None:
    """Run the policy pack over a stack's offline plan, as `pulumi preview --policy-pack` would."""
    from stacks.check.config import load_policy_config
    from stacks.check.formats import render
    from stacks.check.formats.text import renderables, summary_line
    from stacks.check.runner import PACK_DIR, check_plan, plan_and_check
    from stacks.offline.plan import Plan

    progress = consoles.progress
    if (stack is None) == (plan_file is None):
        raise CheckUsageError("give either a STACK to plan or --plan FILE (one of them, not both)")
    policy_config = load_policy_config(config_file) if config_file is not None else None
    from stacks.check.plan_integrity import ensure_engine_could_produce
    from stacks.cli.output_guard import refuse_to_overwrite_inputs

    if output is not None:
        refuse_to_overwrite_inputs(
            output, option="--output", inputs=[p for p in (plan_file, config_file) if p]
        )
    if plan_file is not None:
        plan = Plan.load(plan_file)
        ensure_engine_could_produce(plan, source=str(plan_file))
        stack_file, project_root = _stack_file_for(plan.stack)
        with _terminate_as_exit(), progress(f"evaluating the policy pack over stack {plan.stack} ..."):
            report = check_plan(
                plan,
                pack_dir=pack_dir or PACK_DIR,
                policy_config=policy_config,
                jobs=jobs,
                stack_file=stack_file,
            )
    else:
        from stacks.offline.engine import PROJECT, load_stack_config, plan_stack

        assert stack is not None
        name = stack
        stack_config, _ = load_stack_config(name)
        stack_file, project_root = _stack_file_for(name)
        with (
            _terminate_as_exit(),
            progress(f"planning stack {name} offline and evaluating the policy pack over it ..."),
        ):
            plan, report = plan_and_check(
                lambda: plan_stack(name),
                project=PROJECT,
                stack=name,
                stack_config=stack_config,
                pack_dir=pack_dir or PACK_DIR,
                policy_config=policy_config,
                jobs=jobs,
                stack_file=stack_file,
                on_planned=lambda p: ensure_engine_could_produce(
                    p, source=f"the offline plan of stack {name}"
                ),
            )
    report = dataclasses.replace(report, project_root=project_root)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(render(report, fmt), encoding="utf-8")
        consoles.err.print(summary_line(report), markup=False)
        consoles.err.print(f"report ({fmt.value}) written to {output}", markup=False)
    elif fmt is Format.TEXT:
        one_line = not consoles.out.is_terminal
        for renderable in renderables(report, one_line=one_line):
            consoles.out.print(renderable)
    else:
        sys.stdout.write(render(report, fmt))
    raise typer.Exit(report.exit_code)
