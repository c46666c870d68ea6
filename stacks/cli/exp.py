"""`mlenv exp`: short-lived GPU experiments on the shared platform cluster (mounted by stacks/cli/app.py).

Every command turns an :class:`~stacks.errors.MlenvError` into one message on stderr and its exit
code (see ``EXIT_CODES_HELP``); a traceback never reaches the user. Settings come from options,
then environment variables, then defaults. Tests drive the commands with typer's CliRunner and pass
an :class:`ExpRuntime` as ``obj`` to replace the Pulumi backend, the clock or the AWS endpoint.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated, Any

import boto3
import typer
from rich.table import Table

from stacks.automation import PulumiAutomationBackend, StackBackend
from stacks.cli.errors import command_group, consoles, reported
from stacks.experiments.durations import format_duration, parse_duration, to_iso
from stacks.experiments.errors import EXIT_CODES_HELP, GcIncompleteError
from stacks.experiments.gc import GcReport
from stacks.experiments.identity import caller_identity
from stacks.experiments.ledger import Ledger
from stacks.experiments.lifecycle import Experiments, ExperimentView
from stacks.experiments.orphans import TaggedResource, TagSweeper
from stacks.experiments.pricing import PriceTable
from stacks.experiments.settings import (
    Clock,
    ExperimentSettings,
    platform_defaults,
    stack_name_for,
    utc_now,
)

exp_app = command_group(
    None,
    "Short-lived GPU experiment environments on the shared platform cluster, with a TTL, GPU quotas "
    "and garbage collection.\n\n" + EXIT_CODES_HELP,
)


@dataclass(frozen=True)
class ExpRuntime:
    """What the commands run against. Defaults: the real Pulumi backend, boto3's default session, UTC now."""

    backend_factory: Callable[[], StackBackend] | None = None
    """Builds the stack backend; default PulumiAutomationBackend (needs the Pulumi CLI)."""
    session: boto3.Session | None = None
    """boto3 session; default a new one in the configured region."""
    endpoint_url: str | None = None
    """AWS endpoint override (e.g. a moto server); default none (boto3 also honours AWS_ENDPOINT_URL)."""
    clock: Clock | None = None
    """Source of "now"; default the system clock in UTC."""
    prices: PriceTable | None = None
    """Price table; default the shipped stacks/experiments/gpu_prices.json."""
    settings: ExperimentSettings | None = None
    """Filled in from the options by the group callback."""


@exp_app.callback()
def exp_main(
    ctx: typer.Context,
    ledger_table: Annotated[
        str | None,
        typer.Option(
            envvar="MLENV_LEDGER_TABLE",
            help="DynamoDB ledger table; default the one the platform stack creates, "
            "mlenv-<platform environment>-experiments.",
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(
            envvar="MLENV_REGION",
            help="AWS region of the platform and its experiments; default the platform stack file's "
            "region, else AWS_REGION / AWS_DEFAULT_REGION, else us-east-1.",
        ),
    ] = None,
    platform_stack: Annotated[
        str,
        typer.Option(envvar="MLENV_PLATFORM_STACK", help="Platform stack whose cluster experiments share."),
    ] = "prod",
    failure_cap: Annotated[
        int, typer.Option(envvar="MLENV_GC_FAILURE_CAP", help="Failed destroys after which gc gives up.")
    ] = 3,
    default_image: Annotated[
        str | None,
        typer.Option("--image-default", envvar="MLENV_EXP_IMAGE", help="Image when --image is absent."),
    ] = None,
) -> None:
    """Configure the experiment commands."""
    runtime = ctx.obj if isinstance(ctx.obj, ExpRuntime) else ExpRuntime()
    consoles.reset(quiet=consoles.quiet)
    with reported():
        default_table, platform_region = platform_defaults(platform_stack)
        settings = ExperimentSettings(
            ledger_table=ledger_table or default_table,
            region=region
            or platform_region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1",
            platform_stack=platform_stack,
            failure_cap=failure_cap,
            default_image=default_image,
        )
    ctx.obj = replace(runtime, settings=settings)


def _experiments(ctx: typer.Context, *, stream: bool = True) -> Experiments:
    runtime: ExpRuntime = ctx.obj
    settings = runtime.settings or ExperimentSettings()
    session = runtime.session or boto3.Session(region_name=settings.region)
    dynamodb = session.client("dynamodb", region_name=settings.region, endpoint_url=runtime.endpoint_url)
    tagging = session.client(
        "resourcegroupstaggingapi", region_name=settings.region, endpoint_url=runtime.endpoint_url
    )
    sts = session.client("sts", region_name=settings.region, endpoint_url=runtime.endpoint_url)
    return Experiments(
        Ledger(dynamodb, settings.ledger_table),
        runtime.backend_factory or PulumiAutomationBackend,
        settings,
        prices=runtime.prices,
        clock=runtime.clock or utc_now,
        sweeper=TagSweeper(tagging),
        on_output=_echo_pulumi if stream else None,
        identity=lambda: caller_identity(sts),
    )


def _echo_pulumi(line: str) -> None:
    consoles.err.print(f"  {line}", style="dim", markup=False)


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.2f}"


@exp_app.command(epilog=EXIT_CODES_HELP)
def up(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Experiment name: 3-30 lowercase letters, digits, '-'.")],
    gpus: Annotated[int, typer.Option(help="GPUs to reserve (counted against the quotas).")],
    ttl: Annotated[
        str, typer.Option(help="Lifetime, e.g. 8h, 90m, 2d, 1h30m; at most the maximum TTL.")
    ] = "8h",
    instance_type: Annotated[
        str | None, typer.Option(help="GPU instance type; default: cheapest g6e size that fits.")
    ] = None,
    image: Annotated[
        str | None,
        typer.Option(
            metavar="ID",
            help="Image id from images/catalog.yaml. Required unless `mlenv exp --image-default ID` "
            "or MLENV_EXP_IMAGE names one.",
        ),
    ] = None,
    owner: Annotated[
        str | None,
        typer.Option(
            help="Owner's IAM principal ARN; default you (your AWS identity, from STS). Only the "
            "platform's experiments.operators may create experiments for others."
        ),
    ] = None,
) -> None:
    """Create experiment NAME: reserve GPUs in the ledger, then `pulumi up` its exp-NAME stack."""
    with reported():
        lifetime = parse_duration(ttl)
        experiments = _experiments(ctx)
        with consoles.err.status(f"creating {stack_name_for(name)} (pulumi up) ..."):
            record = experiments.up(
                name,
                gpus=gpus,
                ttl=lifetime,
                owner=owner,
                instance_type=instance_type,
                image=image,
            )
        consoles.out.print(
            f"experiment {record.name} of {record.owner_arn} is {record.status}: {record.gpus} GPUs on "
            f"{record.instance_type}, "
            f"pool {record.pool}, expires {to_iso(record.expires_at)} (in {format_duration(lifetime)})",
            markup=False,
        )


@exp_app.command(name="ls", epilog=EXIT_CODES_HELP)
def list_experiments(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List experiments: owner, GPUs, pool, created, expires in, estimated cost so far, status."""
    with reported():
        views = _experiments(ctx, stream=False).list()
        if as_json:
            typer.echo(json.dumps([v.to_json() for v in views], indent=2))
            return
        consoles.out.print(_ls_table(views))


def _ls_table(views: list[ExperimentView]) -> Table:
    table = Table(title="experiments", title_justify="left")
    for column in (
        "name",
        "owner",
        "GPUs",
        "instance",
        "pool",
        "created",
        "expires in",
        "cost so far",
        "status",
    ):
        # Names must stay whole (users copy them into `down`/`extend`); other cells may fold.
        table.add_column(
            column,
            justify="right" if column in ("GPUs", "cost so far") else "left",
            no_wrap=column == "name",
            overflow="fold",
        )
    for view in views:
        r = view.record
        expires = format_duration(view.expires_in) if view.expires_in.total_seconds() > 0 else "expired"
        status = r.status + (f" ({r.failures} failures)" if r.failures else "")
        table.add_row(
            r.name,
            r.owner,
            str(r.gpus),
            r.instance_type,
            r.pool,
            to_iso(r.created_at),
            expires,
            _money(view.cost_usd),
            status,
        )
    return table


@exp_app.command(epilog=EXIT_CODES_HELP)
def extend(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Experiment to extend.")],
    duration: Annotated[
        str, typer.Argument(help="How much longer, e.g. 4h; total lifetime stays within the max.")
    ],
) -> None:
    """Push the expiry of NAME out by DURATION and re-tag its resources."""
    with reported():
        by = parse_duration(duration)
        experiments = _experiments(ctx)
        with consoles.err.status(f"extending {stack_name_for(name)} (pulumi up) ..."):
            record = experiments.extend(name, by)
        consoles.out.print(f"experiment {record.name} now expires {to_iso(record.expires_at)}", markup=False)


@exp_app.command(epilog=EXIT_CODES_HELP)
def down(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Experiment to destroy.")],
) -> None:
    """Destroy NAME's stack, then remove it from the ledger and release its GPUs; report leftovers."""
    with reported():
        experiments = _experiments(ctx)
        with consoles.err.status(f"destroying {stack_name_for(name)} (pulumi destroy) ..."):
            result = experiments.down(name)
        consoles.out.print(
            f"experiment {name} destroyed; {result.record.gpus} GPUs released; "
            f"estimated cost {_money(result.cost_usd)}",
            markup=False,
        )
        _print_orphans(result.orphans)


def _print_orphans(orphans: list[TaggedResource]) -> None:
    if not orphans:
        return
    consoles.err.print(
        f"warning: {len(orphans)} resources still carry mlenv:experiment tags but no stack manages them:",
        markup=False,
    )
    for orphan in orphans:
        consoles.err.print(f"  {orphan.experiment}: {orphan.arn}", markup=False)


@exp_app.command(epilog=EXIT_CODES_HELP)
def gc(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be destroyed.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Destroy every expired experiment (ledger and stack config must agree); report what was done.

    Exits 1 when an experiment needs a human: a destroy failed, gc gave up after the failure cap,
    or a stack's config disagreed with the ledger.
    """
    with reported():
        experiments = _experiments(ctx, stream=not as_json)
        with consoles.err.status("collecting expired experiments ..."):
            report = experiments.gc(dry_run=dry_run)
        if as_json:
            typer.echo(json.dumps(report.to_json(), indent=2))
        else:
            _print_gc(report)
        if report.problems:
            raise GcIncompleteError(
                f"gc: {len(report.problems)} expired experiments need attention: "
                + ", ".join(f"{a.name} ({a.outcome})" for a in report.problems)
            )


def _print_gc(report: GcReport) -> None:
    title = "gc (dry run)" if report.dry_run else "gc"
    if not report.actions:
        consoles.out.print(f"{title}: no expired experiments at {to_iso(report.now)}", markup=False)
    else:
        table = Table(title=title, title_justify="left")
        for column in ("name", "owner", "GPUs", "expired", "outcome", "cost", "detail"):
            table.add_column(column)
        for a in report.actions:
            expired = to_iso(a.expired_at) if a.expired_at else ""
            table.add_row(a.name, a.owner, str(a.gpus), expired, a.outcome, _money(a.cost_usd), a.detail)
        consoles.out.print(table)
    for stack in report.unledgered_stacks:
        consoles.err.print(
            f"note: stack {stack} looks like an experiment but has no ledger record; left alone", markup=False
        )
    _print_orphans(report.orphans)


def main(args: list[str] | None = None, obj: Any = None) -> None:
    """Run `mlenv exp` on its own (the mlenv CLI mounts ``exp_app`` instead)."""
    exp_app(args=args, obj=obj)
