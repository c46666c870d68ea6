"""The default, human format: one finding per entry, ``file:line  policy  resource  message``.

Compilers and linters (gcc, ruff, cargo) lead each diagnostic with where it is, so an editor or a
reader jumps straight to the line; the stack file's line comes from the same lookup SARIF uses
(``stack_file_lines``). At a terminal the location, policy and resource head an entry and the message
follows, indented and word-wrapped; in a pipe or a file (``one_line``) the message joins the head, so
``grep`` finds a finding whole. The verdict comes last, as `terraform plan`'s summary does.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.text import Text

from stacks.check.findings import CheckReport, Finding, Status
from stacks.check.formats.stack_file_lines import StackFileLines

STYLES = {
    Status.VIOLATION: ("✗", "bold red"),
    Status.ADVISORY: ("!", "yellow"),
    Status.WAIVED: ("~", "cyan"),
    Status.NOT_EVALUATED: ("?", "magenta"),
    Status.NOT_APPLICABLE: ("-", "dim"),
}
ORDER = [Status.VIOLATION, Status.NOT_EVALUATED, Status.ADVISORY, Status.WAIVED]
INDENT = 4
FILE_WIDTH = 100_000
"""``render`` (--output FILE) never wraps: one logical line per line, like a pipe."""


def plural(count: int, noun: str) -> str:
    """``1 policy``, ``2 policies``, ``0 violations``: the nouns a summary uses."""
    if count == 1:
        return f"{count} {noun}"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return f"{count} {noun[:-1]}ies"
    return f"{count} {noun}s"


STATUS_NOUNS = {
    Status.VIOLATION: ("violation", "violations"),
    Status.NOT_EVALUATED: ("not evaluated", "not evaluated"),
    Status.ADVISORY: ("advisory", "advisories"),
    Status.WAIVED: ("waived", "waived"),
}


def summary_line(report: CheckReport) -> str:
    """The verdict: pass or fail, what was checked, and the findings by status."""
    counts = report.counts()
    parts = []
    for status in ORDER:
        count = counts.get(status, 0)
        singular, many = STATUS_NOUNS[status]
        parts.append(f"{count} {singular if count == 1 else many}")
    verdict = "FAILED" if report.exit_code else "passed"
    return (
        f"policy check {verdict}: stack {report.stack}, pack {report.pack}@{report.pack_version}, "
        f"{_policy_count(report)} over {plural(report.resources_analyzed, 'resource')} "
        "(the stack excluded): " + ", ".join(parts)
    )


def _policy_count(report: CheckReport) -> str:
    """``55 policies``, or ``55 policies (55 disabled)``: a policy turned off by --config checked
    nothing, and a summary that counts it as run would pass a check that ran no rule."""
    disabled = [p.name for p in report.policies if p.enforcement == "disabled"]
    count = plural(len(report.policies), "policy")
    if not disabled:
        return count
    if len(disabled) <= 3:
        return f"{count} ({len(disabled)} disabled: {', '.join(disabled)})"
    return f"{count} ({len(disabled)} disabled)"


class Locator:
    """``file:line`` of a finding: its resource's line in the stack file, or the file when unknown."""

    def __init__(self, report: CheckReport) -> None:
        path = report.stack_file_path()
        self._report = report
        self._lines = StackFileLines.load(path) if path is not None else None

    def line(self, finding: Finding) -> int:
        """The finding's line in the stack file (0 when the report names no stack file)."""
        if self._lines is None:
            return 0
        urn = finding.resource.urn if finding.resource is not None else ""
        return self._lines.line_for(urn, self._report.stack)

    def __call__(self, finding: Finding) -> str:
        if self._report.stack_file is None or self._lines is None:
            return f"stack {self._report.stack}"
        return f"{self._report.stack_file}:{self.line(finding)}"


def _resource(finding: Finding) -> str:
    return finding.resource.name if finding.resource is not None else "(stack)"


def _message_lines(finding: Finding) -> list[str]:
    return (finding.message or finding.description).splitlines() or [""]


def _indented(text: Text) -> RenderableType:
    # expand=False: a padded line is as long as its text, never the console's width.
    return Padding(text, (0, 0, 0, INDENT), expand=False)


def _entry(finding: Finding, where: str, remediation: str, *, one_line: bool) -> Iterator[RenderableType]:
    mark, style = STYLES[finding.status]
    head = Text(no_wrap=False)
    head.append(where, style="bold")
    head.append("  ")
    head.append(finding.policy)
    head.append("  ")
    head.append(_resource(finding), style="cyan")
    first, *rest = _message_lines(finding)
    status = Text(f"{mark} {finding.status.value}:", style=style)
    if one_line:
        head.append("  ")
        head.append_text(status)
        head.append(f" {first}")
        yield head
    else:
        yield head
        yield _indented(Text.assemble(status, f" {first}"))
    for line in rest:
        yield _indented(Text(line))
    if remediation and finding.status in (Status.VIOLATION, Status.ADVISORY):
        yield _indented(Text(f"how: {remediation}", style="dim"))


def renderables(report: CheckReport, *, one_line: bool = False) -> Iterator[RenderableType]:
    """Rich renderables: the findings (violations first, then by file line), then the verdict."""
    where = Locator(report)
    reported = report.reported()
    ordered = sorted(
        reported,
        key=lambda f: (ORDER.index(f.status) if f.status in ORDER else len(ORDER), where.line(f), f.policy),
    )
    for finding in ordered:
        meta = report.policy(finding.policy)
        yield from _entry(finding, where(finding), meta.remediation_steps if meta else "", one_line=one_line)
    if not reported:
        yield Text("no findings", style="green")
    else:
        yield Text("")
    disabled = [p.name for p in report.policies if p.enforcement == "disabled"]
    if disabled:
        yield Text(f"disabled by the policy config (not run): {', '.join(disabled)}", style="yellow")
    verdict_style = "bold red" if report.exit_code else "bold green"
    yield Text(summary_line(report), style=verdict_style)


def render(report: CheckReport) -> str:
    """Plain text (no colour), one finding per line, for --output FILE."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=FILE_WIDTH, no_color=True, highlight=False, soft_wrap=True)
    console.print(Group(*renderables(report, one_line=True)))
    return buffer.getvalue()
