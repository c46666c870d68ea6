"""SARIF 2.1.0 for code scanning: one rule per policy, one result per finding.

Each result has a logical location (the resource URN) and, when the plan came from a stack file,
a physical location: the line of ``stacks/Pulumi.<stack>.yaml`` the resource is built from.
Levels: violation -> error, advisory -> warning, waived -> note with an external suppression,
not-evaluated -> kind ``open`` (SARIF: the tool could not decide), level ``none``.
Not-applicable answers are not results.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from stacks.check.findings import CheckReport, Finding, PolicyMeta, Status
from stacks.check.formats.stack_file_lines import StackFileLines

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "mlenv-check"
INFORMATION_URI = "https://github.com/mlenv/mlenv"

_LEVELS = {
    Status.VIOLATION: ("fail", "error"),
    Status.ADVISORY: ("fail", "warning"),
    Status.WAIVED: ("fail", "note"),
    Status.NOT_EVALUATED: ("open", "none"),
}
_DEFAULT_LEVEL = {"mandatory": "error", "remediate": "error", "advisory": "warning", "disabled": "none"}


def _rule(meta: PolicyMeta) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": meta.name,
        "name": "".join(part.capitalize() for part in meta.name.split("-")),
        "shortDescription": {"text": meta.description or meta.name},
        "fullDescription": {"text": meta.description or meta.name},
        "defaultConfiguration": {"level": _DEFAULT_LEVEL.get(meta.enforcement, "warning")},
        "properties": {"enforcementLevel": meta.enforcement, "policyType": meta.kind},
    }
    if meta.remediation_steps:
        rule["help"] = {"text": meta.remediation_steps}
    if meta.url:
        rule["helpUri"] = meta.url
    if meta.severity:
        rule["properties"]["severity"] = meta.severity
    return rule


def _fingerprint(finding: Finding) -> str:
    urn = finding.resource.urn if finding.resource else ""
    return hashlib.sha256(f"{finding.policy}\0{urn}\0{finding.message}".encode()).hexdigest()


def _result(
    finding: Finding, rule_index: dict[str, int], report: CheckReport, lines: StackFileLines | None
) -> dict[str, Any]:
    kind, level = _LEVELS[finding.status]
    location: dict[str, Any] = {}
    if finding.resource is not None:
        location["logicalLocations"] = [
            {
                "fullyQualifiedName": finding.resource.urn,
                "name": finding.resource.name,
                "kind": "resource",
                "properties": {"type": finding.resource.type},
            }
        ]
    if report.stack_file:
        line = lines.line_for(finding.resource.urn, report.stack) if lines and finding.resource else 1
        location["physicalLocation"] = {
            "artifactLocation": {"uri": report.stack_file, "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": line},
        }
    text = finding.message or finding.description
    where = f" ({finding.resource.name}, {finding.resource.type})" if finding.resource else ""
    result: dict[str, Any] = {
        "ruleId": finding.policy,
        "kind": kind,
        "level": level,
        "message": {"text": f"{text}{where}" if text else f"{finding.policy}{where}"},
        "partialFingerprints": {"mlenvFinding/v1": _fingerprint(finding)},
        "properties": {"status": finding.status.value, "enforcementLevel": finding.enforcement},
    }
    if finding.policy in rule_index:
        result["ruleIndex"] = rule_index[finding.policy]
    if location:
        result["locations"] = [location]
    if finding.status is Status.WAIVED:
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": text}]
    return result


def to_sarif(report: CheckReport) -> dict[str, Any]:
    """The SARIF log as a dict."""
    policies = list(report.policies)
    known = {p.name for p in policies}
    for finding in report.reported():
        if finding.policy not in known:
            known.add(finding.policy)
            policies.append(
                PolicyMeta(
                    name=finding.policy,
                    description=finding.description,
                    enforcement=finding.enforcement,
                    kind="unknown",
                )
            )
    rule_index = {p.name: i for i, p in enumerate(policies)}
    stack_file = report.stack_file_path()
    lines = StackFileLines.load(stack_file) if stack_file is not None else None
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "informationUri": INFORMATION_URI,
                "version": report.pack_version or "0.0.0",
                "rules": [_rule(p) for p in policies],
                "properties": {"policyPack": report.pack},
            }
        },
        "automationDetails": {"id": f"mlenv-check/{report.stack}/"},
        "invocations": [{"executionSuccessful": True, "exitCode": report.exit_code}],
        "results": [_result(f, rule_index, report, lines) for f in report.reported()],
        "properties": {"stack": report.stack, "project": report.project},
    }
    if report.stack_file:
        root = Path(report.project_root or ".").resolve()
        run["originalUriBaseIds"] = {"%SRCROOT%": {"uri": root.as_uri() + "/"}}
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render(report: CheckReport) -> str:
    return json.dumps(to_sarif(report), indent=2) + "\n"
