"""The default, human format: findings grouped by policy, each with the resource and the fix."""

from __future__ import annotations

import io
from collections.abc import Iterator

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.text import Text

from stacks.check.findings import CheckReport, Finding, Status

STYLES = {
    Status.VIOLATION: ("✗", "bold red"),
    Status.ADVISORY: ("!", "yellow"),
    Status.WAIVED: ("~", "cyan"),
    Status.NOT_EVALUATED: ("?", "magenta"),
    Status.NOT_APPLICABLE: ("-", "dim"),
}
ORDER = [Status.VIOLATION, Status.NOT_EVALUATED, Status.ADVISORY, Status.WAIVED]


def summary_line(report: CheckReport) -> str:
    counts = report.counts()
    parts = [f"{counts.get(status, 0)} {status.value}" for status in ORDER]
    verdict = "FAILED" if report.exit_code else "passed"
    return (
        f"policy check {verdict}: stack {report.stack}, pack {report.pack}@{report.pack_version}, "
        f"{_policy_count(report)} over {report.resources_analyzed} resources: " + ", ".join(parts)
    )


def _policy_count(report: CheckReport) -> str:
    """``55 policies``, or ``55 policies (55 disabled)``: a policy turned off by --config checked
    nothing, and a summary that counts it as run would pass a check that ran no rule."""
    disabled = [p.name for p in report.policies if p.enforcement == "disabled"]
    count = f"{len(report.policies)} policies"
    if not disabled:
        return count
    if len(disabled) <= 3:
        return f"{count} ({len(disabled)} disabled: {', '.join(disabled)})"
    return f"{count} ({len(disabled)} disabled)"


def _where(finding: Finding) -> str:
    if finding.resource is None:
        return "the stack"
    return f"{finding.resource.name} ({finding.resource.type})"


def _finding_lines(finding: Finding, remediation: str) -> Iterator[RenderableType]:
    mark, style = STYLES[finding.status]
    yield Text.from_markup(
        f"  [{style}]{mark} {finding.status.value}[/{style}] {escape(_where(finding))}", emoji=False
    )
    if finding.resource is not None:
        yield Text(f"      urn: {finding.resource.urn}", style="dim")
    label = {
        Status.NOT_EVALUATED: "not evaluated",
        Status.WAIVED: "waiver",
    }.get(finding.status, "fix")
    for i, line in enumerate((finding.message or finding.description).splitlines() or [""]):
        yield Text(f"      {label + ':' if i == 0 else ' ' * (len(label) + 1)} {line}")
    if remediation and finding.status in (Status.VIOLATION, Status.ADVISORY):
        yield Text(f"      how: {remediation}", style="dim")


def renderables(report: CheckReport) -> Iterator[RenderableType]:
    """Rich renderables: one block per policy with findings, then the summary."""
    grouped = report.by_policy()
    for name, findings in grouped.items():
        meta = report.policy(name)
        enforcement = meta.enforcement if meta else findings[0].enforcement
        description = meta.description if meta else findings[0].description
        yield Text.from_markup(
            f"[bold]{escape(name)}[/bold] [dim]({enforcement}, {len(findings)} finding"
            f"{'s' if len(findings) != 1 else ''})[/dim]",
            emoji=False,
        )
        if description:
            yield Text(f"  {description}", style="italic")
        ordered = sorted(findings, key=lambda f: ORDER.index(f.status) if f.status in ORDER else 99)
        for finding in ordered:
            yield from _finding_lines(finding, meta.remediation_steps if meta else "")
        yield Text("")
    if not grouped:
        yield Text("no findings", style="green")
    disabled = [p.name for p in report.policies if p.enforcement == "disabled"]
    if disabled:
        yield Text(f"disabled by the policy config (not run): {', '.join(disabled)}", style="yellow")
    verdict_style = "bold red" if report.exit_code else "bold green"
    yield Text(summary_line(report), style=verdict_style)


def render(report: CheckReport) -> str:
    """Plain text (no colour) of the same layout, for --output FILE."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, no_color=True, highlight=False, soft_wrap=True)
    console.print(Group(*renderables(report)))
    return buffer.getvalue()
