"""Drift findings: one per resource that differs from the code, with what differs and how to fix it.

Every layer (``state`` refresh diffs, the ``aws`` sweep, the ``kubernetes`` sweep) reports the same
:class:`DriftFinding`, so every output format renders all three alike. A layer that could not run
says so in its :class:`LayerResult`; it is never silently treated as "no drift".
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

EXIT_NO_DRIFT = 0
EXIT_DRIFT = 1


class Layer(StrEnum):
    """Where a finding comes from."""

    STATE = "state"
    AWS = "aws"
    KUBERNETES = "kubernetes"


class Kind(StrEnum):
    """What kind of drift a finding is."""

    CHANGED = "changed"
    """Live properties differ from the state (refresh diff, or tags of an owned resource)."""
    GONE = "gone"
    """The state holds a resource that no longer exists."""
    NOT_IN_STATE = "not-in-state"
    """Carries this stack's tags/labels (or lives in its namespace) but the state does not hold it."""
    UNMANAGED = "unmanaged"
    """Inside the stack's VPC with no mlenv tags and not made by a controller the platform runs."""
    EDITED = "edited"
    """Fields of an owned Kubernetes object last written by a manager other than Pulumi."""
    NOT_CHECKED = "not-checked"
    """The sweep could not look (a permission is missing): drift there is unknown."""


class Fix(StrEnum):
    """How to resolve a finding."""

    REAPPLY = "re-apply"
    IMPORT = "import"
    DELETE = "delete"
    GRANT = "grant-permission"


@dataclass(frozen=True)
class DriftFinding:
    """One drifted resource: which, what differs, since when (if known), and how to fix it."""

    layer: Layer
    kind: Kind
    resource: str
    """The resource's URN, ARN, id, or ``namespace/Kind/name``."""
    type: str
    """Pulumi type token, AWS resource type (``ec2:security-group``) or Kubernetes ``apiVersion/Kind``."""
    differs: tuple[str, ...]
    """What differs, one line each (``tags.mlenv:owner: "ml-platform" -> (removed)``)."""
    fix: Fix
    how: str
    """The command or action that resolves it."""
    since: str | None = None
    """ISO-8601 time the drift started when known (launch or creation time), or the state's last write
    of the resource, after which it happened."""
    urn: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer.value,
            "kind": self.kind.value,
            "resource": self.resource,
            "type": self.type,
            "urn": self.urn,
            "differs": list(self.differs),
            "since": self.since,
            "fix": self.fix.value,
            "how": self.how,
        }


@dataclass(frozen=True)
class LayerResult:
    """Whether a layer ran, and what it looked at or why it was skipped."""

    layer: Layer
    ran: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer.value, "ran": self.ran, "detail": self.detail}


@dataclass(frozen=True)
class DriftReport:
    """Everything one `mlenv drift` run found; exit code 1 as soon as there is one finding."""

    stack: str
    findings: tuple[DriftFinding, ...]
    layers: tuple[LayerResult, ...]
    state_source: str | None = None

    @classmethod
    def of(
        cls,
        stack: str,
        findings: Iterable[DriftFinding],
        layers: Iterable[LayerResult],
        state_source: str | None = None,
    ) -> DriftReport:
        ordered = sorted(findings, key=lambda f: (list(Layer).index(f.layer), f.kind.value, f.resource))
        return cls(stack, tuple(ordered), tuple(layers), state_source)

    @property
    def checked_anything(self) -> bool:
        return any(r.ran for r in self.layers)

    @property
    def exit_code(self) -> int:
        """1 on any finding, and when no layer could run: a run that checked nothing is no all-clear."""
        return EXIT_DRIFT if self.findings or not self.checked_anything else EXIT_NO_DRIFT

    def counts(self) -> Counter[Kind]:
        return Counter(f.kind for f in self.findings)

    def by_layer(self, layer: Layer) -> list[DriftFinding]:
        return [f for f in self.findings if f.layer is layer]

    def summary_line(self) -> str:
        """``drift found: stack dev, 4 findings (...); layers: aws, kubernetes; skipped: state``."""
        ran = [r.layer.value for r in self.layers if r.ran]
        skipped = [r.layer.value for r in self.layers if not r.ran]
        if self.findings:
            parts = ", ".join(f"{n} {k.value}" for k, n in sorted(self.counts().items()))
            head = f"drift found: stack {self.stack}, {len(self.findings)} finding(s) ({parts})"
        elif not self.checked_anything:
            head = f"nothing checked: stack {self.stack}, no layer could run"
        else:
            head = f"no drift: stack {self.stack}"
        tail = f"; checked: {', '.join(ran) or 'nothing'}"
        if skipped:
            tail += f"; skipped: {', '.join(skipped)}"
        return head + tail

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "state": self.state_source,
            "exit_code": self.exit_code,
            "summary": self.summary_line(),
            "counts": {k.value: n for k, n in sorted(self.counts().items())},
            "layers": [r.to_dict() for r in self.layers],
            "findings": [f.to_dict() for f in self.findings],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)
