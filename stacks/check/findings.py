"""Typed findings: what the pack's diagnostics mean for one plan, ready for every output format.

The pack answers Analyze/AnalyzeStack with ``AnalyzeDiagnostic`` and ``PolicyNotApplicable``
messages. They are mapped here, once, into ``Finding`` objects with a status:

* ``violation``      a mandatory (or remediate, which the engine downgrades to mandatory) diagnostic;
* ``advisory``       an advisory diagnostic;
* ``waived``         reported by the pack's waiver policy, message beginning ``waived:``;
* ``not-evaluated``  the policy read a value unknown at preview (pulumi-policy's UnknownValueError
                     path, "can't run policy ... during preview"); never a silent pass;
* ``not-applicable`` the policy said it does not apply (``args.not_applicable(reason)``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pulumi.runtime.proto import analyzer_pb2

EXIT_PASSED = 0
EXIT_MANDATORY_VIOLATION = 1

WAIVER_POLICY = "waived-violations"
"""The pack's advisory stack policy that reports each waived violation (message ``waived: ...``)."""
WAIVED_PREFIX = "waived:"

# pulumi_policy.policy._PolicyAnalyzerServicer writes this message when a policy raised
# UnknownValueError: "can't run policy '<name>' from policy pack '<pack>@v<version>' during preview: ..."
_NOT_EVALUATED = re.compile(
    r"^can't run policy '(?P<policy>[^']+)' from policy pack '[^']*' during preview: (?P<reason>.*)\Z",
    re.DOTALL,
)

ENFORCEMENT_LEVELS: Mapping[analyzer_pb2.EnforcementLevel.ValueType, str] = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
SEVERITIES: Mapping[analyzer_pb2.PolicySeverity.ValueType, str | None] = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: None,
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}


class Status(StrEnum):
    """What a finding means for the check."""

    VIOLATION = "violation"
    ADVISORY = "advisory"
    WAIVED = "waived"
    NOT_EVALUATED = "not-evaluated"
    NOT_APPLICABLE = "not-applicable"


@dataclass(frozen=True)
class PolicyMeta:
    """One policy as the pack describes it (GetAnalyzerInfo) and as configured for this run."""

    name: str
    description: str
    enforcement: str
    kind: Literal["resource", "stack", "unknown"]
    severity: str | None = None
    remediation_steps: str = ""
    url: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ResourceRef:
    """The resource a finding is about: its URN, type token and name."""

    urn: str
    type: str
    name: str


@dataclass(frozen=True)
class Finding:
    """One diagnostic (or not-applicable answer) of one policy, about one resource or the stack."""

    policy: str
    status: Status
    enforcement: str
    message: str
    """What the policy reported, without the description pulumi-policy prefixes; for
    not-evaluated and not-applicable findings, the reason."""
    description: str
    resource: ResourceRef | None
    """None for a stack policy diagnostic that names no resource."""
    stage: Literal["resource", "stack"]
    severity: str | None = None

    @property
    def counts_against(self) -> bool:
        """Whether this finding fails the check (a mandatory violation)."""
        return self.status is Status.VIOLATION

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data


@dataclass(frozen=True)
class CheckReport:
    """The result of running a pack over one plan."""

    project: str
    stack: str
    pack: str
    pack_version: str
    policies: tuple[PolicyMeta, ...]
    findings: tuple[Finding, ...]
    resources_analyzed: int
    stack_file: str | None = None
    """Project-relative path of the stack file the plan came from, when known."""
    project_root: str | None = None
    """Absolute directory ``stack_file`` is relative to (the Pulumi project's), when known."""

    def stack_file_path(self) -> Path | None:
        """The stack file on disk, when the report knows it (for line numbers)."""
        if self.stack_file is None:
            return None
        return Path(self.project_root or ".") / self.stack_file

    @property
    def exit_code(self) -> int:
        """0 when no mandatory violation; 1 otherwise."""
        return EXIT_MANDATORY_VIOLATION if self.violations else EXIT_PASSED

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if f.status is Status.VIOLATION]

    def reported(self) -> list[Finding]:
        """Every finding except not-applicable answers: what a reader needs to see."""
        return [f for f in self.findings if f.status is not Status.NOT_APPLICABLE]

    def counts(self) -> Counter[Status]:
        return Counter(f.status for f in self.findings)

    def policy(self, name: str) -> PolicyMeta | None:
        return next((p for p in self.policies if p.name == name), None)

    def by_policy(self, findings: Iterable[Finding] | None = None) -> dict[str, list[Finding]]:
        """Findings grouped by policy name, in pack order, then any policy the pack did not list."""
        order = {p.name: i for i, p in enumerate(self.policies)}
        grouped: dict[str, list[Finding]] = {}
        for finding in sorted(
            self.reported() if findings is None else findings,
            key=lambda f: (order.get(f.policy, len(order)), f.policy),
        ):
            grouped.setdefault(finding.policy, []).append(finding)
        return grouped

    def to_dict(self) -> dict[str, Any]:
        counts = self.counts()
        return {
            "project": self.project,
            "stack": self.stack,
            "stack_file": self.stack_file,
            "pack": {"name": self.pack, "version": self.pack_version},
            "resources_analyzed": self.resources_analyzed,
            "passed": self.exit_code == EXIT_PASSED,
            "summary": {status.value: counts.get(status, 0) for status in Status},
            "policies": [{**asdict(p), "config": dict(p.config)} for p in self.policies],
            "findings": [f.to_dict() for f in self.findings],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)


def _strip_description(message: str, description: str) -> str:
    """pulumi-policy reports ``description + "\\n" + message``; keep what the policy wrote."""
    if description and message.startswith(description):
        rest = message[len(description) :]
        if not rest:
            return ""
        if rest.startswith("\n"):
            return rest[1:]
    return message


def diagnostic_to_finding(
    diagnostic: analyzer_pb2.AnalyzeDiagnostic,
    *,
    stage: Literal["resource", "stack"],
    resource: ResourceRef | None,
    resources: Mapping[str, ResourceRef],
    policies: Mapping[str, PolicyMeta],
) -> Finding:
    """Map one diagnostic. For Analyze, the engine always attributes it to the analyzed resource;
    for AnalyzeStack, to the URN the policy named (if any)."""
    if stage == "stack" and diagnostic.urn:
        urn = diagnostic.urn
        resource = resources.get(urn) or ResourceRef(urn=urn, type=_type_from_urn(urn), name=_name(urn))
    level = ENFORCEMENT_LEVELS.get(diagnostic.enforcementLevel, "advisory")
    meta = policies.get(diagnostic.policyName)
    description = diagnostic.description or (meta.description if meta else "")
    message = _strip_description(diagnostic.message, description)
    severity = SEVERITIES.get(diagnostic.severity) or (meta.severity if meta else None)
    not_evaluated = _NOT_EVALUATED.match(diagnostic.message)
    if not_evaluated:
        # pulumi-policy sends these as advisory whatever the policy's level; keep the real level.
        return Finding(
            policy=diagnostic.policyName,
            status=Status.NOT_EVALUATED,
            enforcement=meta.enforcement if meta else level,
            message=not_evaluated.group("reason"),
            description=description,
            resource=resource,
            stage=stage,
            severity=severity,
        )
    if diagnostic.policyName == WAIVER_POLICY and message.lstrip().startswith(WAIVED_PREFIX):
        status = Status.WAIVED
    elif level in ("mandatory", "remediate"):
        status = Status.VIOLATION
        level = "mandatory"
    else:
        status = Status.ADVISORY
    return Finding(
        policy=diagnostic.policyName,
        status=status,
        enforcement=level,
        message=message,
        description=description,
        resource=resource,
        stage=stage,
        severity=severity,
    )


def response_to_findings(
    response: analyzer_pb2.AnalyzeResponse,
    *,
    stage: Literal["resource", "stack"],
    resource: ResourceRef | None,
    resources: Mapping[str, ResourceRef],
    policies: Mapping[str, PolicyMeta],
) -> list[Finding]:
    """Every diagnostic and not-applicable answer of one response, in the order the pack sent them."""
    findings = [
        diagnostic_to_finding(d, stage=stage, resource=resource, resources=resources, policies=policies)
        for d in response.diagnostics
    ]
    for entry in response.not_applicable:
        meta = policies.get(entry.policy_name)
        findings.append(
            Finding(
                policy=entry.policy_name,
                status=Status.NOT_APPLICABLE,
                enforcement=meta.enforcement if meta else "advisory",
                message=entry.reason,
                description=meta.description if meta else "",
                resource=resource,
                stage=stage,
                severity=meta.severity if meta else None,
            )
        )
    return findings


def _type_from_urn(urn: str) -> str:
    parts = urn.split("::", 3)
    return parts[2].rsplit("$", 1)[-1] if len(parts) == 4 else ""


def _name(urn: str) -> str:
    parts = urn.split("::", 3)
    return parts[3] if len(parts) == 4 else urn
