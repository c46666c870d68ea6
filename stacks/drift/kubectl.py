"""The one wrapper over ``kubectl`` the Kubernetes sweep uses: ``kubectl get ... -o json`` per namespace.

``kubectl`` rather than a client library: it already speaks every kubeconfig auth plugin (``aws eks
get-token`` included) and returns objects exactly as the API server does, ``managedFields`` and all.
Every call has a timeout; a failure quotes kubectl's last lines; ``Forbidden`` is reported to the
caller (a finding), not raised.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks.drift.errors import DriftError

TIMEOUT_SECONDS = 120
LAST_LINES = 10


@dataclass(frozen=True)
class Listing:
    """The objects of one namespace, or why they could not be listed."""

    items: list[dict[str, Any]] = field(default_factory=list)
    forbidden: str | None = None


class Kubectl:
    """Lists objects through ``kubectl`` with a given kubeconfig (and context)."""

    def __init__(
        self,
        kubeconfig: Path,
        *,
        context: str | None = None,
        binary: str | None = None,
        timeout_seconds: float = TIMEOUT_SECONDS,
    ) -> None:
        found = binary or shutil.which("kubectl")
        if found is None:
            raise DriftError("kubectl is not on PATH (https://kubernetes.io/docs/tasks/tools/)")
        self.binary = found
        self.kubeconfig = kubeconfig
        self.context = context
        self.timeout_seconds = timeout_seconds

    def list(self, namespace: str, kinds: Sequence[str]) -> Listing:
        """``kubectl get KINDS -n NAMESPACE -o json``: the items, or the Forbidden message."""
        command = [self.binary, "--kubeconfig", str(self.kubeconfig)]
        if self.context:
            command += ["--context", self.context]
        command += ["get", ",".join(kinds), "--namespace", namespace, "--output", "json"]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=self.timeout_seconds, check=False
            )
        except subprocess.TimeoutExpired:
            raise DriftError(
                f"kubectl get in namespace {namespace} timed out after {self.timeout_seconds:g}s"
            ) from None
        except OSError as exc:
            raise DriftError(f"could not run {self.binary}: {exc}") from None
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.strip()][-LAST_LINES:]
            text = "\n".join(lines)
            if "Forbidden" in text or "forbidden" in text:
                return Listing(forbidden=text)
            raise DriftError(f"kubectl get in namespace {namespace} failed:\n{text}")
        try:
            document = json.loads(done.stdout or "{}")
        except json.JSONDecodeError as exc:
            raise DriftError(f"kubectl get in namespace {namespace} did not print JSON: {exc}") from None
        items = document.get("items", []) if isinstance(document, dict) else []
        return Listing(items=[i for i in items if isinstance(i, dict)])
