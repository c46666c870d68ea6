"""A pull-request comment / job summary: a summary table, then details per policy."""

from __future__ import annotations

from stacks.check.findings import CheckReport, Finding, Status

ICONS = {
    Status.VIOLATION: "❌",
    Status.ADVISORY: "⚠️",
    Status.WAIVED: "🏷️",
    Status.NOT_EVALUATED: "❔",
    Status.NOT_APPLICABLE: "·",
}
SHOWN = [Status.VIOLATION, Status.NOT_EVALUATED, Status.ADVISORY, Status.WAIVED]


def table_cell(text: str) -> str:
    """Table-safe: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _resource(finding: Finding) -> str:
    if finding.resource is None:
        return "_stack_"
    return f"`{finding.resource.name}` `{finding.resource.type}`"


def render(report: CheckReport) -> str:
    counts = report.counts()
    verdict = (
        f"❌ **failed**: {len(report.violations)} mandatory violation(s)"
        if report.exit_code
        else "✅ **passed**: no mandatory violation"
    )
    lines = [
        f"### mlenv policy check: `{report.stack}`",
        "",
        f"{verdict}. Pack `{report.pack}@{report.pack_version}`, {len(report.policies)} policies, "
        f"{report.resources_analyzed} resources.",
        "",
        "| status | count |",
        "| --- | ---: |",
    ]
    lines += [f"| {ICONS[s]} {s.value} | {counts.get(s, 0)} |" for s in SHOWN]
    grouped = report.by_policy()
    if grouped:
        lines += ["", "| policy | enforcement | " + " | ".join(s.value for s in SHOWN) + " |"]
        lines += ["| --- | --- | " + " | ".join("---:" for _ in SHOWN) + " |"]
        for name, findings in grouped.items():
            meta = report.policy(name)
            per = {s: sum(1 for f in findings if f.status is s) for s in SHOWN}
            enforcement = meta.enforcement if meta else findings[0].enforcement
            lines.append(f"| `{name}` | {enforcement} | " + " | ".join(str(per[s]) for s in SHOWN) + " |")
        lines += ["", "<details><summary>Details</summary>", ""]
        for name, findings in grouped.items():
            meta = report.policy(name)
            lines += [f"#### `{name}`", ""]
            if meta and meta.description:
                lines += [f"_{table_cell(meta.description)}_", ""]
            lines += ["| | resource | message |", "| --- | --- | --- |"]
            for finding in sorted(findings, key=lambda f: SHOWN.index(f.status)):
                lines.append(
                    f"| {ICONS[finding.status]} {finding.status.value} | {_resource(finding)} | "
                    f"{table_cell(finding.message or finding.description)} |"
                )
            if meta and meta.remediation_steps:
                lines += ["", f"How to fix: {table_cell(meta.remediation_steps)}"]
            lines.append("")
        lines.append("</details>")
    return "\n".join(lines) + "\n"
