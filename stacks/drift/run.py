"""`mlenv drift STACK`: run the three layers that can run, say why the others cannot, build the report.

* ``state``: Pulumi's refresh (``pulumi preview --refresh --policy-pack policies``) through the
  automation adapter; needs the Pulumi CLI and a logged-in backend, skipped (with the reason) otherwise.
* ``aws``: the AWS sweep over the state (``--state FILE`` from ``pulumi stack export``, or the
  adapter's export); skipped without a state or without AWS credentials.
* ``kubernetes``: the Kubernetes sweep of the namespaces the state owns through ``kubectl``
  (``--kubeconfig`` or ``KUBECONFIG``); skipped without a kubeconfig or without kubectl.

Findings with a URN the state holds and no time of their own get the state's last write of the
resource as ``since``: the drift happened after it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from stacks.drift.aws_sweep import AwsSweep
from stacks.drift.errors import DriftError, DriftInputError
from stacks.drift.findings import DriftFinding, DriftReport, Fix, Kind, Layer, LayerResult
from stacks.drift.kubectl import Kubectl, Listing
from stacks.drift.kubernetes_sweep import LISTED_KINDS, OwnedKubernetes, sweep_objects
from stacks.drift.refresh import findings_from_events
from stacks.drift.state import StackState, load_state, parse_state

AWS_PROVIDER_TYPE = "pulumi:providers:aws"


class PulumiStacks(Protocol):
    """What drift needs from the Pulumi adapter (``stacks.automation.PulumiAutomationBackend``)."""

    def preview_refresh_events(self, stack: str) -> list[dict[str, Any]]: ...

    def export_state(self, stack: str) -> dict[str, Any]: ...


class Lister(Protocol):
    """What the Kubernetes layer needs from kubectl."""

    def list(self, namespace: str, kinds: tuple[str, ...]) -> Listing: ...


@dataclass(frozen=True)
class DriftRequest:
    """The inputs of one run."""

    stack: str
    state_file: Path | None = None
    kubeconfig: Path | None = None
    context: str | None = None


def pulumi_backend() -> tuple[PulumiStacks | None, str]:
    """The adapter when the Pulumi CLI is on PATH, else None and why."""
    if shutil.which("pulumi") is None:
        return None, "the Pulumi CLI is not on PATH (https://www.pulumi.com/docs/install/); "
    from stacks.automation import PulumiAutomationBackend

    return PulumiAutomationBackend(), ""


def run_drift(
    request: DriftRequest,
    *,
    backend: PulumiStacks | None = None,
    backend_missing: str = "",
    session: Any = None,
    kubectl: Lister | None = None,
    environ: Mapping[str, str] = os.environ,
) -> DriftReport:
    """Run every layer that can run for ``request.stack``."""
    findings: list[DriftFinding] = []
    layers: list[LayerResult] = []
    stack = request.stack

    if backend is None:
        layers.append(
            LayerResult(
                Layer.STATE,
                False,
                backend_missing
                + "install it and log in to compare state with live (pulumi preview --refresh)",
            )
        )
    else:
        events = backend.preview_refresh_events(stack)
        findings += findings_from_events(events, stack)
        layers.append(
            LayerResult(
                Layer.STATE, True, f"pulumi preview --refresh --policy-pack: {len(events)} engine events"
            )
        )

    state = _state(request, backend)
    if state is None:
        reason = (
            "no state: pass --state FILE (`pulumi stack export --stack STACK --file FILE`) or install Pulumi"
        )
        layers += [LayerResult(Layer.AWS, False, reason), LayerResult(Layer.KUBERNETES, False, reason)]
        return DriftReport.of(stack, findings, layers)

    layers.append(_aws(state, stack.rsplit("/", 1)[-1], session, findings))
    layers.append(_kubernetes(request, state, kubectl, environ, findings))
    return DriftReport.of(stack, _with_since(findings, state), layers, state.source)


def _state(request: DriftRequest, backend: PulumiStacks | None) -> StackState | None:
    if request.state_file is not None:
        state = load_state(request.state_file)
    elif backend is not None:
        state = parse_state(
            backend.export_state(request.stack), source=f"pulumi stack export ({request.stack})"
        )
    else:
        return None
    # URNs carry the bare stack name; the request may be fully qualified (org/project/stack).
    if state.stack and state.stack != request.stack.rsplit("/", 1)[-1]:
        raise DriftInputError(
            f"{state.source}: this is the state of stack {state.stack!r}, not {request.stack!r}; "
            f"export the right one with `pulumi stack export --stack {request.stack}`"
        )
    return state


def region_of(state: StackState) -> str | None:
    """The region of the stack's AWS provider, as the state recorded it."""
    for resource in state.resources:
        if resource.type == AWS_PROVIDER_TYPE:
            region = resource.inputs.get("region") or resource.outputs.get("region")
            if isinstance(region, str) and region:
                return region
    return None


def _aws(state: StackState, stack: str, session: Any, findings: list[DriftFinding]) -> LayerResult:
    if session is None:
        import boto3

        session = boto3.Session(region_name=region_of(state))
    if session.get_credentials() is None:
        return LayerResult(Layer.AWS, False, "no AWS credentials (environment, profile or role)")
    found, result = AwsSweep(session, state, stack).run()
    findings += found
    return result


def _kubernetes(
    request: DriftRequest,
    state: StackState,
    kubectl: Lister | None,
    environ: Mapping[str, str],
    findings: list[DriftFinding],
) -> LayerResult:
    owned = OwnedKubernetes.from_state(state)
    if not owned.namespaces:
        return LayerResult(Layer.KUBERNETES, False, "the state holds no Kubernetes namespace")
    if kubectl is None:
        kubeconfig = request.kubeconfig
        if kubeconfig is None and environ.get("KUBECONFIG"):
            kubeconfig = Path(environ["KUBECONFIG"].split(os.pathsep)[0])
        if kubeconfig is None:
            return LayerResult(
                Layer.KUBERNETES, False, "no kubeconfig: pass --kubeconfig FILE or set KUBECONFIG"
            )
        if not kubeconfig.is_file():
            raise DriftInputError(f"--kubeconfig: {kubeconfig} is not a file; pass the cluster's kubeconfig")
        try:
            kubectl = Kubectl(kubeconfig, context=request.context)
        except DriftError as exc:
            return LayerResult(Layer.KUBERNETES, False, str(exc))
    items: list[dict[str, Any]] = []
    for namespace in owned.namespaces:
        listing = kubectl.list(namespace, LISTED_KINDS)
        if listing.forbidden is not None:
            findings.append(
                DriftFinding(
                    Layer.KUBERNETES,
                    Kind.NOT_CHECKED,
                    f"namespace/{namespace}",
                    "kubernetes:permission",
                    (f"listing was forbidden: {listing.forbidden.splitlines()[-1]}",),
                    Fix.GRANT,
                    f"grant get/list on {', '.join(LISTED_KINDS)} in {namespace} to the drift identity",
                )
            )
        items += listing.items
    findings += sweep_objects(items, owned, request.stack)
    return LayerResult(
        Layer.KUBERNETES, True, f"{len(items)} objects in namespaces {', '.join(owned.namespaces)}"
    )


def _with_since(findings: list[DriftFinding], state: StackState) -> list[DriftFinding]:
    modified = {r.urn: r.modified for r in state.resources if r.modified}
    return [
        replace(f, since=modified[f.urn]) if f.since is None and f.urn in modified else f for f in findings
    ]
