"""The Kubernetes sweep: objects in mlenv's namespaces that the state does not hold, and fields of
owned objects last written by someone other than Pulumi.

Works on objects shaped as the API server returns them (``kubectl get -o json`` items, with
``metadata.managedFields``), so it is tested on such JSON and fed by :mod:`stacks.drift.kubectl`.

Who wrote a field comes from ``managedFields`` (Kubernetes "Server-Side Apply: field management":
one entry per manager with ``manager``, ``operation``, ``time``, ``subresource`` and the
``fieldsV1`` trie). Pulumi's Kubernetes provider always names its field manager
``pulumi-kubernetes`` (client-side apply) or ``pulumi-kubernetes-<suffix>`` (server-side apply)
(pulumi/pulumi-kubernetes#2271). Entries on a subresource (``status``, ``scale``) and entries of the
control-plane controllers in :data:`CONTROLLER_MANAGERS` are expected and not drift; any other
manager (``kubectl-edit``, ``kubectl-patch``, ``kubectl-client-side-apply``, ``Mozilla`` for the
console ...) is a hand edit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from stacks.drift.findings import DriftFinding, Fix, Kind, Layer
from stacks.drift.state import StackState

PULUMI_MANAGER = "pulumi-kubernetes"
NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
HELM_RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
HELM_RELEASE_ANNOTATION = "meta.helm.sh/release-name"
MAX_FIELDS = 8

CONTROLLER_MANAGERS: Mapping[str, str] = {
    "kube-controller-manager": "writes deployment.kubernetes.io/revision and other controller fields",
    "kube-scheduler": "binds pods",
    "kubelet": "node and pod status",
    "karpenter": "Karpenter's NodePool/NodeClaim fields",
    "helm": "objects of a Helm release the state holds",
}
"""Managers whose writes to an owned object are expected (the component lets them own those fields)."""

LISTED_KINDS: tuple[str, ...] = (
    "configmaps",
    "secrets",
    "serviceaccounts",
    "services",
    "deployments.apps",
    "statefulsets.apps",
    "daemonsets.apps",
    "jobs.batch",
    "cronjobs.batch",
    "pods",
    "roles.rbac.authorization.k8s.io",
    "rolebindings.rbac.authorization.k8s.io",
    "networkpolicies.networking.k8s.io",
    "resourcequotas",
    "limitranges",
    "poddisruptionbudgets.policy",
    "horizontalpodautoscalers.autoscaling",
    "ingresses.networking.k8s.io",
    "persistentvolumeclaims",
)
"""What the sweep lists in each namespace (``kubectl get`` resource names): what people create by hand."""

IMPLICIT_OBJECTS: Mapping[tuple[str, str], str] = {
    ("ServiceAccount", "default"): "made in every namespace by the service account controller",
    ("ConfigMap", "kube-root-ca.crt"): "published in every namespace by the root CA publisher",
}
"""Objects Kubernetes itself makes in every namespace."""


@dataclass(frozen=True)
class ObjectKey:
    """An object's identity: API group, kind, namespace, name."""

    group: str
    kind: str
    namespace: str
    name: str

    def ref(self) -> str:
        return f"{self.namespace}/{self.kind}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


def key_of(obj: Mapping[str, Any]) -> ObjectKey:
    api_version = str(obj.get("apiVersion", ""))
    metadata = obj.get("metadata") or {}
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    return ObjectKey(
        group, str(obj.get("kind", "")), str(metadata.get("namespace", "")), str(metadata.get("name", ""))
    )


def _state_key(type_: str, outputs: Mapping[str, Any]) -> ObjectKey | None:
    """``kubernetes:apps/v1:Deployment`` + metadata -> its key (the core group is spelled ``core``)."""
    parts = type_.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes" or "/" not in parts[1]:
        return None
    group = parts[1].rsplit("/", 1)[0]
    metadata = outputs.get("metadata") or {}
    if not isinstance(metadata, Mapping) or not metadata.get("name"):
        return None
    return ObjectKey(
        "" if group == "core" else group,
        parts[2],
        str(metadata.get("namespace") or ""),
        str(metadata["name"]),
    )


@dataclass(frozen=True)
class OwnedKubernetes:
    """What the state says mlenv owns in the cluster."""

    objects: Mapping[ObjectKey, str]
    """Object key -> URN."""
    namespaces: tuple[str, ...]
    releases: frozenset[str]

    @classmethod
    def from_state(cls, state: StackState) -> OwnedKubernetes:
        objects: dict[ObjectKey, str] = {}
        namespaces: list[str] = []
        releases: set[str] = set()
        for resource in state.managed():
            values = resource.outputs or resource.inputs
            if resource.type == HELM_RELEASE_TYPE:
                name = values.get("name") or resource.id
                if name:
                    releases.add(str(name).rsplit("/", 1)[-1])
                continue
            key = _state_key(resource.type, values)
            if key is None:
                continue
            objects[key] = resource.urn
            if resource.type == NAMESPACE_TYPE:
                namespaces.append(key.name)
        return cls(objects, tuple(sorted(namespaces)), frozenset(releases))


def sweep_objects(
    live: Iterable[Mapping[str, Any]], owned: OwnedKubernetes, stack: str
) -> list[DriftFinding]:
    """Findings for the live objects of mlenv's namespaces."""
    findings: list[DriftFinding] = []
    for obj in live:
        key = key_of(obj)
        metadata = obj.get("metadata") or {}
        urn = owned.objects.get(key)
        type_ = f"{obj.get('apiVersion', '')}/{key.kind}"
        if urn is not None:
            edits = list(_hand_edits(metadata.get("managedFields") or []))
            if edits:
                managers = sorted({m for m, _, _ in edits})
                since = min((t for _, t, _ in edits if t), default=None)
                differs = tuple(
                    f"{path} (written by {manager})" for manager, _, paths in edits for path in paths
                )
                findings.append(
                    DriftFinding(
                        Layer.KUBERNETES,
                        Kind.EDITED,
                        key.ref(),
                        type_,
                        differs,
                        Fix.REAPPLY,
                        f"`pulumi up --stack {stack} --policy-pack policies` takes the fields back "
                        f"from {', '.join(managers)}; change the code instead if the edit should stay",
                        since,
                        urn,
                    )
                )
            continue
        if _implicit(obj, key, owned):
            continue
        findings.append(
            DriftFinding(
                Layer.KUBERNETES,
                Kind.NOT_IN_STATE,
                key.ref(),
                type_,
                (f"in namespace {key.namespace}, which stack {stack} owns, but not in its state",),
                Fix.DELETE,
                f"delete it (`kubectl delete -n {key.namespace} {key.kind.lower()} {key.name}`), or add it "
                "to the code and `pulumi import` it",
                metadata.get("creationTimestamp"),
            )
        )
    return findings


def _implicit(obj: Mapping[str, Any], key: ObjectKey, owned: OwnedKubernetes) -> bool:
    """Made by Kubernetes, a controller (ownerReferences) or a Helm release the state holds."""
    metadata = obj.get("metadata") or {}
    if metadata.get("ownerReferences"):
        return True
    if (key.kind, key.name) in IMPLICIT_OBJECTS:
        return True
    if obj.get("type") == "kubernetes.io/service-account-token":
        return True
    release = (metadata.get("annotations") or {}).get(HELM_RELEASE_ANNOTATION)
    return release is not None and release in owned.releases


def _hand_edits(entries: Iterable[Mapping[str, Any]]) -> Iterator[tuple[str, str | None, list[str]]]:
    for entry in entries:
        manager = str(entry.get("manager", ""))
        if manager.startswith(PULUMI_MANAGER) or manager in CONTROLLER_MANAGERS or entry.get("subresource"):
            continue
        paths = sorted(_paths(entry.get("fieldsV1") or {}))
        paths = [p for p in paths if p != "metadata.managedFields"]
        if not paths:
            continue
        if len(paths) > MAX_FIELDS:
            paths = [*paths[:MAX_FIELDS], f"... and {len(paths) - MAX_FIELDS} more"]
        yield manager, entry.get("time"), paths


def _paths(trie: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Leaf paths of a ``fieldsV1`` trie (``f:<field>``, ``k:<json key>``, ``v:<value>``, ``i:<index>``)."""
    for raw, child in trie.items():
        if raw == ".":
            continue
        kind, _, name = raw.partition(":")
        if kind == "f":
            path = f"{prefix}.{name}" if prefix else name
        elif kind == "k":
            try:
                fields = json.loads(name)
                label = ",".join(f"{k}={v}" for k, v in sorted(fields.items()))
            except (json.JSONDecodeError, AttributeError):
                label = name
            path = f"{prefix}[{label}]"
        else:
            path = f"{prefix}[{name}]"
        if isinstance(child, Mapping) and any(k != "." for k in child):
            yield from _paths(child, path)
        else:
            yield path
