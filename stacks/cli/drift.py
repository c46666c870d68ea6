"""`mlenv drift STACK`: what changed outside the code, in the cloud and in the cluster.

Mounted on the ``mlenv`` app by ``stacks.cli.app``; the work is in ``stacks.drift.run``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from stacks.cli.errors import consoles
from stacks.drift.findings import DriftReport
from stacks.drift.formats import DriftFormat

DRIFT_EPILOG = (
    "Exit codes: 0 no drift in the layers that ran; 1 drift found, no layer could run, or a layer "
    "failed (AWS or kubectl errors other than a missing permission, which is itself a finding); "
    "2 bad input (unreadable or wrong-version state file, state of another stack, missing kubeconfig)."
)

SUFFIXES = {
    DriftFormat.TEXT: "txt",
    DriftFormat.JSON: "json",
    DriftFormat.SARIF: "sarif",
    DriftFormat.MARKDOWN: "md",
}


def write_reports(report: DriftReport, directory: Path) -> list[Path]:
    """``drift-<stack>.<suffix>`` in every format."""
    from stacks.drift.formats import render

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt, suffix in SUFFIXES.items():
        path = directory / f"drift-{report.stack}.{suffix}"
        path.write_text(render(report, fmt), encoding="utf-8")
        written.append(path)
    return written


def drift(
    stack: Annotated[str, typer.Argument(help="Stack name (the Pulumi stack the state belongs to).")],
    state_file: Annotated[
        Path | None,
        typer.Option(
            "--state",
            help="The stack's state: the JSON `pulumi stack export --file FILE` writes (deployment v3). "
            "Default: exported through the Pulumi CLI when it is installed.",
        ),
    ] = None,
    kubeconfig: Annotated[
        Path | None,
        typer.Option("--kubeconfig", help="Kubeconfig of the stack's cluster (default: $KUBECONFIG)."),
    ] = None,
    context: Annotated[str | None, typer.Option("--context", help="Kubeconfig context to use.")] = None,
    fmt: Annotated[
        DriftFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
    ] = DriftFormat.TEXT,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
    ] = None,
    report_dir: Annotated[
        Path | None,
        typer.Option(
            "--report-dir",
            help="Also write the report in every format (drift-STACK.txt/.json/.sarif/.md) into this "
            "directory, from one run (the scheduled workflow publishes them).",
        ),
    ] = None,
) -> None:
    """Find drift: state vs live (Pulumi refresh), unowned AWS resources, hand-edited Kubernetes objects."""
    from stacks.drift.formats import render, renderables
    from stacks.drift.run import DriftRequest, pulumi_backend, run_drift

    backend, missing = pulumi_backend()
    report = run_drift(
        DriftRequest(stack, state_file=state_file, kubeconfig=kubeconfig, context=context),
        backend=backend,
        backend_missing=missing,
    )
    if report_dir is not None:
        for path in write_reports(report, report_dir):
            consoles.err.print(f"wrote {path}", highlight=False, soft_wrap=True)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(render(report, fmt), encoding="utf-8")
        consoles.err.print(report.summary_line(), highlight=False, soft_wrap=True)
        consoles.err.print(f"report ({fmt.value}) written to {output}", highlight=False, soft_wrap=True)
    elif fmt is DriftFormat.TEXT:
        for renderable in renderables(report):
            consoles.out.print(renderable, highlight=False)
    else:
        sys.stdout.write(render(report, fmt))
    raise typer.Exit(report.exit_code)
