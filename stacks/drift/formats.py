"""Output formats of a drift report: text, json, sarif, markdown (as `mlenv check` has).

The shapes follow ``stacks.check.formats``: text puts the verdict last, like a linter; SARIF uses
the same schema, tool information URI and fingerprinting idea (one rule per finding kind, one result per
finding, the URN or ARN as logical location); markdown is a job-summary table then details, with
the check's table-cell escaping.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Any

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.text import Text

from stacks.check.formats.markdown import table_cell
from stacks.check.formats.sarif import INFORMATION_URI, SCHEMA_URI
from stacks.drift.findings import DriftFinding, DriftReport, Kind

TOOL_NAME = "mlenv-drift"
WIDTH = 80

KIND_TEXT: dict[Kind, str] = {
    Kind.CHANGED: "live values differ from the code",
    Kind.GONE: "in the state but gone from the cloud",
    Kind.NOT_IN_STATE: "carries the stack's tags or namespace but is not in its state",
    Kind.UNMANAGED: "unmanaged resource inside the stack's VPC",
    Kind.EDITED: "owned object edited by hand (managedFields)",
    Kind.NOT_CHECKED: "could not be checked (missing permission)",
}
SARIF_LEVEL = {Kind.NOT_CHECKED: "warning"}


class DriftFormat(StrEnum):
    """``mlenv drift --format``."""

    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    MARKDOWN = "markdown"


# -- text ------------------------------------------------------------------------------------------


def renderables(report: DriftReport) -> Iterator[RenderableType]:
    """One block per finding (what, where, since, fix), the layers, then the verdict."""
    for finding in report.findings:
        yield Text.from_markup(
            f"[bold red]✗ {finding.kind.value}[/bold red] [dim]({finding.layer.value})[/dim] "
            f"{escape(finding.type)}",
            emoji=False,
        )
        yield Text(f"    {finding.resource}")
        for line in finding.differs:
            yield Text(f"    - {line}")
        if finding.since:
            yield Text(f"    since: {finding.since}", style="dim")
        yield Text(f"    fix ({finding.fix.value}): {finding.how}", style="dim")
        yield Text("")
    for layer in report.layers:
        mark, style = ("✓", "green") if layer.ran else ("-", "yellow")
        verb = "checked" if layer.ran else "skipped"
        yield Text.from_markup(
            f"[{style}]{mark} {layer.layer.value} {verb}[/{style}]: {escape(layer.detail)}", emoji=False
        )
    yield Text(report.summary_line(), style="bold red" if report.exit_code else "bold green")


def render_text(report: DriftReport) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=WIDTH, no_color=True, highlight=False)
    for renderable in renderables(report):
        console.print(renderable)
    return buffer.getvalue()


# -- json ------------------------------------------------------------------------------------------


def render_json(report: DriftReport) -> str:
    return report.to_json() + "\n"


# -- sarif -----------------------------------------------------------------------------------------


def _fingerprint(finding: DriftFinding) -> str:
    key = f"{finding.layer}\0{finding.kind}\0{finding.resource}\0{chr(0).join(finding.differs)}"
    return hashlib.sha256(key.encode()).hexdigest()


def to_sarif(report: DriftReport) -> dict[str, Any]:
    kinds = list(Kind)
    rules = [
        {
            "id": f"drift-{kind.value}",
            "name": "Drift" + "".join(p.capitalize() for p in kind.value.split("-")),
            "shortDescription": {"text": KIND_TEXT[kind]},
            "defaultConfiguration": {"level": SARIF_LEVEL.get(kind, "error")},
        }
        for kind in kinds
    ]
    results = []
    for finding in report.findings:
        text = "; ".join(finding.differs) or KIND_TEXT[finding.kind]
        results.append(
            {
                "ruleId": f"drift-{finding.kind.value}",
                "ruleIndex": kinds.index(finding.kind),
                "level": SARIF_LEVEL.get(finding.kind, "error"),
                "message": {"text": f"{finding.resource} ({finding.type}): {text}. Fix: {finding.how}"},
                "locations": [
                    {
                        "logicalLocations": [
                            {
                                "fullyQualifiedName": finding.urn or finding.resource,
                                "kind": "resource",
                                "properties": {"type": finding.type},
                            }
                        ]
                    }
                ],
                "partialFingerprints": {"mlenvDrift/v1": _fingerprint(finding)},
                "properties": {
                    "layer": finding.layer.value,
                    "fix": finding.fix.value,
                    **({"since": finding.since} if finding.since else {}),
                },
            }
        )
    run: dict[str, Any] = {
        "tool": {"driver": {"name": TOOL_NAME, "informationUri": INFORMATION_URI, "rules": rules}},
        "automationDetails": {"id": f"mlenv-drift/{report.stack}/"},
        "invocations": [
            {
                "executionSuccessful": True,
                "exitCode": report.exit_code,
                "toolExecutionNotifications": [
                    {"level": "note", "message": {"text": f"{r.layer.value} skipped: {r.detail}"}}
                    for r in report.layers
                    if not r.ran
                ],
            }
        ],
        "results": results,
        "properties": {"stack": report.stack, "layers": [r.to_dict() for r in report.layers]},
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render_sarif(report: DriftReport) -> str:
    return json.dumps(to_sarif(report), indent=2) + "\n"


# -- markdown --------------------------------------------------------------------------------------


def render_markdown(report: DriftReport) -> str:
    verdict = (
        f"❌ **drift found**: {len(report.findings)} finding(s)" if report.exit_code else "✅ **no drift**"
    )
    lines = [f"### mlenv drift: `{report.stack}`", "", f"{verdict}.", "", "| layer | | detail |"]
    lines.append("| --- | --- | --- |")
    for layer in report.layers:
        lines.append(
            f"| {layer.layer.value} | {'checked' if layer.ran else 'skipped'} | {table_cell(layer.detail)} |"
        )
    if report.findings:
        lines += ["", "| kind | layer | resource | what differs | since | fix |"]
        lines.append("| --- | --- | --- | --- | --- | --- |")
        for f in report.findings:
            lines.append(
                f"| {f.kind.value} | {f.layer.value} | `{table_cell(f.resource)}` `{table_cell(f.type)}` | "
                f"{table_cell('; '.join(f.differs))} | {f.since or ''} | {f.fix.value}: {table_cell(f.how)} |"
            )
    return "\n".join(lines) + "\n"


RENDERERS: dict[DriftFormat, Callable[[DriftReport], str]] = {
    DriftFormat.TEXT: render_text,
    DriftFormat.JSON: render_json,
    DriftFormat.SARIF: render_sarif,
    DriftFormat.MARKDOWN: render_markdown,
}


def render(report: DriftReport, fmt: DriftFormat | str) -> str:
    """The report as one document in the given format."""
    return RENDERERS[DriftFormat(fmt)](report)
